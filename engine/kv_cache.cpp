#include "engine/kv_cache.h"

#include <algorithm>

#include "kernels/common/fp16.h"
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
  scratch_key_.resize(size_t(head_dim));
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

void KvCache::evict(int64_t layer, int64_t begin, int64_t count,
                    const std::function<void(float*, int64_t)>& rotate) {
  int64_t& used = used_[size_t(layer)];
  if (count <= 0) return;
  if (begin < 0 || begin + count > used) throw Error("internal: eviction outside the cache");
  auto& k = k_[size_t(layer)];
  auto& v = v_[size_t(layer)];
  auto& pos = pos_[size_t(layer)];
  std::vector<float>& key = scratch_key_;  // sized once, reused by every eviction
  for (int64_t g = 0; g < n_kv_head_; ++g) {
    uint16_t* kg = k.data() + g * capacity_ * head_dim_;
    uint16_t* vg = v.data() + g * capacity_ * value_dim_;
    for (int64_t s = begin + count; s < used; ++s) {
      uint16_t* dst = kg + (s - count) * head_dim_;
      const uint16_t* src = kg + s * head_dim_;
      if (rotate) {
        for (int64_t d = 0; d < head_dim_; ++d) key[size_t(d)] = kernels::fp16_to_float(src[d]);
        rotate(key.data(), count);
        cpu::f32_to_f16_row(key.data(), dst, head_dim_);
      } else {
        std::copy(src, src + head_dim_, dst);
      }
      std::copy(vg + s * value_dim_, vg + (s + 1) * value_dim_, vg + (s - count) * value_dim_);
    }
  }
  for (int64_t s = begin + count; s < used; ++s) {
    pos[size_t(s - count)] = pos[size_t(s)] - (rotate ? int32_t(count) : 0);
  }
  used -= count;
}

void KvCache::clear() {
  for (auto& u : used_) u = 0;
}

}  // namespace longctx
