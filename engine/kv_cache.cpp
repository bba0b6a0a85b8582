#include "engine/kv_cache.h"

#include <algorithm>

#include "kernels/cpu/vec.h"
#include "support/error.h"

namespace longctx {

KvCache::KvCache(int64_t n_layer, int64_t n_kv_head, int64_t head_dim, int64_t value_dim,
                 int64_t capacity)
    : n_kv_head_(n_kv_head), head_dim_(head_dim), value_dim_(value_dim), capacity_(capacity) {
  for (int64_t il = 0; il < n_layer; ++il) {
    k_.emplace_back(size_t(n_kv_head * capacity * head_dim));
    v_.emplace_back(size_t(n_kv_head * capacity * value_dim));
    pos_.emplace_back(size_t(capacity), 0);
  }
  used_.assign(size_t(n_layer), 0);
}

int64_t KvCache::bytes() const {
  return int64_t(k_.size()) * n_kv_head_ * capacity_ * (head_dim_ + value_dim_) * 2;
}

void KvCache::append(int64_t layer, int64_t n, const float* k, const float* v,
                     const int32_t* positions) {
  int64_t& used = used_[size_t(layer)];
  if (used + n > capacity_) {
    throw Error("the KV cache is full (" + std::to_string(capacity_) +
                " tokens); raise -c or shorten the prompt");
  }
  for (int64_t t = 0; t < n; ++t) {
    int64_t slot = used + t;
    for (int64_t g = 0; g < n_kv_head_; ++g) {
      cpu::f32_to_f16_row(k + (t * n_kv_head_ + g) * head_dim_,
                          k_[size_t(layer)].data() + (g * capacity_ + slot) * head_dim_, head_dim_);
      cpu::f32_to_f16_row(v + (t * n_kv_head_ + g) * value_dim_,
                          v_[size_t(layer)].data() + (g * capacity_ + slot) * value_dim_,
                          value_dim_);
    }
    pos_[size_t(layer)][size_t(slot)] = positions[t];
  }
  used += n;
}

void KvCache::truncate(int64_t n) {
  for (auto& u : used_) u = std::min(u, n);
}

void KvCache::clear() {
  for (auto& u : used_) u = 0;
}

}  // namespace longctx
