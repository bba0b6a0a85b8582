#include "engine/kv_cache.h"

#include <algorithm>

#include "kernels/cpu/vec.h"
#include "support/error.h"

namespace longctx {
namespace {

void encode_row(KvType type, const float* x, uint8_t* out, int64_t dim) {
  if (type == KvType::F16) {
    cpu::f32_to_f16_row(x, reinterpret_cast<uint16_t*>(out), dim);  // the SIMD path
  } else {
    kernels::encode_kv_row(type, x, out, dim);
  }
}

void decode_row(KvType type, const uint8_t* row, float* y, int64_t dim) {
  if (type == KvType::F16) {
    cpu::f16_to_f32_row(reinterpret_cast<const uint16_t*>(row), y, dim);
  } else if (type == KvType::Q8_0) {
    cpu::q8_0_to_f32_row(row, y, dim);
  } else {
    cpu::q4_0_to_f32_row(row, y, dim);
  }
}

}  // namespace

KvType parse_kv_type(const std::string& name) {
  if (name == "f16") return KvType::F16;
  if (name == "q8_0") return KvType::Q8_0;
  if (name == "q4_0") return KvType::Q4_0;
  throw Error("--kv-type " + name + ": unknown KV precision (f16, q8_0, q4_0)");
}

const char* kv_type_name(KvType type) {
  switch (type) {
    case KvType::Q8_0:
      return "q8_0";
    case KvType::Q4_0:
      return "q4_0";
    default:
      return "f16";
  }
}

void plan_drop(const int32_t* drops, int64_t n_drops, int64_t used, std::vector<SlotMove>& moves) {
  moves.clear();
  // Holes below the new end are filled by the survivors above it, highest survivor first.
  const int64_t new_used = used - n_drops;
  int64_t src = used - 1;
  int64_t tail = n_drops - 1;  // drops at or above new_used need no filling
  for (int64_t i = 0; i < n_drops && drops[i] < new_used; ++i) {
    while (tail >= 0 && drops[tail] == src) {  // a dropped slot is no survivor
      --tail;
      --src;
    }
    moves.push_back({int32_t(src), drops[i]});
    --src;
  }
}

KvCache::KvCache(int64_t n_layer, int64_t n_kv_head, int64_t head_dim, int64_t value_dim,
                 std::vector<int64_t> capacity, KvType type, std::vector<bool> rows)
    : n_kv_head_(n_kv_head),
      head_dim_(head_dim),
      value_dim_(value_dim),
      type_(type),
      k_row_(kernels::kv_row_bytes(type, head_dim)),
      v_row_(kernels::kv_row_bytes(type, value_dim)),
      capacity_(std::move(capacity)),
      rows_(std::move(rows)) {
  if (int64_t(capacity_.size()) != n_layer) throw Error("internal: one KV capacity per layer");
  if (rows_.empty()) rows_.assign(size_t(n_layer), true);
  if (int64_t(rows_.size()) != n_layer) throw Error("internal: one row flag per layer");
  if (type != KvType::F16 && (head_dim % kernels::kQK != 0 || value_dim % kernels::kQK != 0)) {
    throw Error(std::string("--kv-type ") + kv_type_name(type) +
                " needs head dimensions that are " + "multiples of 32; this model has " +
                std::to_string(head_dim));
  }
  for (int64_t il = 0; il < n_layer; ++il) {
    const int64_t cap = capacity_[size_t(il)], row_slots = rows_[size_t(il)] ? cap : 0;
    k_.emplace_back(size_t(n_kv_head * row_slots * k_row_));
    v_.emplace_back(size_t(n_kv_head * row_slots * v_row_));
    pos_.emplace_back(size_t(n_kv_head * cap), 0);
  }
  scratch_key_.resize(size_t(head_dim));
  used_.assign(size_t(n_layer), 0);
}

int64_t KvCache::max_capacity() const {
  return *std::max_element(capacity_.begin(), capacity_.end());
}

int64_t KvCache::bytes() const {
  int64_t total = 0;
  for (int64_t cap : capacity_) total += n_kv_head_ * cap * (k_row_ + v_row_);
  return total;
}

int64_t KvCache::held_bytes() const {
  int64_t total = 0;
  for (int64_t u : used_) total += n_kv_head_ * u * (k_row_ + v_row_);
  return total;
}

void KvCache::append(int64_t layer, int64_t n, const float* k, const float* v,
                     const int32_t* positions) {
  int64_t& used = used_[size_t(layer)];
  const int64_t cap = capacity_[size_t(layer)];
  if (used + n > cap) {
    throw Error("the KV cache of layer " + std::to_string(layer) + " is full (" +
                std::to_string(cap) + " tokens); raise -c or shorten the prompt");
  }
  const bool rows = rows_[size_t(layer)];
  if (rows && (!k || !v)) throw Error("internal: a layer storing rows needs keys and values");
  for (int64_t t = 0; t < n; ++t) {
    const int64_t slot = used + t;
    for (int64_t g = 0; g < n_kv_head_; ++g) {
      pos_[size_t(layer)][size_t(g * cap + slot)] = positions[t];
      if (!rows) continue;
      encode_row(type_, k + (t * n_kv_head_ + g) * head_dim_,
                 k_[size_t(layer)].data() + (g * cap + slot) * k_row_, head_dim_);
      encode_row(type_, v + (t * n_kv_head_ + g) * value_dim_,
                 v_[size_t(layer)].data() + (g * cap + slot) * v_row_, value_dim_);
    }
  }
  used += n;
}

void KvCache::key(int64_t layer, int64_t g, int64_t slot, float* out) const {
  if (!rows_[size_t(layer)])
    throw Error("internal: layer " + std::to_string(layer) + " keeps no rows on the host");
  decode_row(type_, keys(layer) + (g * capacity(layer) + slot) * k_row_, out, head_dim_);
}

void KvCache::value(int64_t layer, int64_t g, int64_t slot, float* out) const {
  if (!rows_[size_t(layer)])
    throw Error("internal: layer " + std::to_string(layer) + " keeps no rows on the host");
  decode_row(type_, values(layer) + (g * capacity(layer) + slot) * v_row_, out, value_dim_);
}

void KvCache::truncate(int64_t n) {
  for (auto& u : used_) u = std::min(u, n);
}

void KvCache::evict_range(int64_t layer, int64_t begin, int64_t count,
                          const std::function<void(float*)>& rotate, std::vector<KvMove>* log) {
  int64_t& used = used_[size_t(layer)];
  if (count <= 0) return;
  if (begin < 0 || begin + count > used) throw Error("internal: eviction outside the cache");
  const int64_t cap = capacity_[size_t(layer)];
  const bool rows = rows_[size_t(layer)];
  const int64_t row_slots = rows ? cap : 0;  // a layer without rows has none to offset into
  for (int64_t g = 0; g < n_kv_head_; ++g) {
    uint8_t* kg = k_[size_t(layer)].data() + g * row_slots * k_row_;
    uint8_t* vg = v_[size_t(layer)].data() + g * row_slots * v_row_;
    int32_t* pg = pos_[size_t(layer)].data() + g * cap;
    for (int64_t s = begin + count; s < used; ++s) {
      pg[s - count] = pg[s] - (rotate ? int32_t(count) : 0);
      if (log) log->push_back({int32_t(g), int32_t(s), int32_t(s - count)});
      if (!rows) continue;
      uint8_t* dst = kg + (s - count) * k_row_;
      const uint8_t* src = kg + s * k_row_;
      if (rotate) {
        decode_row(type_, src, scratch_key_.data(), head_dim_);
        rotate(scratch_key_.data());
        encode_row(type_, scratch_key_.data(), dst, head_dim_);
      } else {
        std::copy(src, src + k_row_, dst);
      }
      std::copy(vg + s * v_row_, vg + (s + 1) * v_row_, vg + (s - count) * v_row_);
    }
  }
  used -= count;
}

void KvCache::drop(int64_t layer, const std::vector<int32_t>& drops, int64_t per_head,
                   std::vector<KvMove>* log) {
  int64_t& used = used_[size_t(layer)];
  if (per_head <= 0) return;
  if (int64_t(drops.size()) != per_head * n_kv_head_ || per_head > used)
    throw Error("internal: a drop must name the same number of slots in every KV head");
  const int64_t cap = capacity_[size_t(layer)];
  for (int64_t g = 0; g < n_kv_head_; ++g) {
    const int32_t* d = drops.data() + g * per_head;
    for (int64_t i = 0; i < per_head; ++i) {
      if (d[i] < 0 || d[i] >= used || (i > 0 && d[i] <= d[i - 1]))
        throw Error("internal: dropped slots must be distinct, ascending and in use");
    }
    plan_drop(d, per_head, used, moves_);
    const bool rows = rows_[size_t(layer)];
    const int64_t row_slots = rows ? cap : 0;
    uint8_t* kg = k_[size_t(layer)].data() + g * row_slots * k_row_;
    uint8_t* vg = v_[size_t(layer)].data() + g * row_slots * v_row_;
    int32_t* pg = pos_[size_t(layer)].data() + g * cap;
    for (const SlotMove& m : moves_) {
      pg[m.to] = pg[m.from];
      if (log) log->push_back({int32_t(g), m.from, m.to});
      if (!rows) continue;
      std::copy(kg + m.from * k_row_, kg + (m.from + 1) * k_row_, kg + m.to * k_row_);
      std::copy(vg + m.from * v_row_, vg + (m.from + 1) * v_row_, vg + m.to * v_row_);
    }
  }
  used -= per_head;
}

void KvCache::clear() {
  for (auto& u : used_) u = 0;
}

}  // namespace longctx
