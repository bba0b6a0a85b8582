#include "engine/kv_rows.h"

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

KvRows::KvRows(const KvLayout& layout, std::vector<bool> stored)
    : layout_(layout),
      k_row_(layout.key_row_bytes()),
      v_row_(layout.value_row_bytes()),
      stored_(std::move(stored)) {
  const int64_t n_layer = layout_.n_layer();
  if (stored_.empty()) stored_.assign(size_t(n_layer), true);
  if (int64_t(stored_.size()) != n_layer) throw Error("internal: one row flag per layer");
  for (int64_t il = 0; il < n_layer; ++il) {
    const int64_t slots =
        stored_[size_t(il)] ? layout_.n_kv_head * layout_.capacity[size_t(il)] : 0;
    k_.emplace_back(size_t(slots * k_row_));
    v_.emplace_back(size_t(slots * v_row_));
  }
  scratch_key_.resize(size_t(layout_.head_dim));
}

void KvRows::check_stored(int64_t layer) const {
  if (!stored_[size_t(layer)])
    throw Error("internal: layer " + std::to_string(layer) + " keeps no rows on the host");
}

void KvRows::write(int64_t layer, int64_t first_slot, int64_t n, const float* k, const float* v) {
  check_stored(layer);
  const int64_t cap = layout_.capacity[size_t(layer)], n_kv = layout_.n_kv_head;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t slot = first_slot + t;
    for (int64_t g = 0; g < n_kv; ++g) {
      encode_row(layout_.type, k + (t * n_kv + g) * layout_.head_dim,
                 k_[size_t(layer)].data() + (g * cap + slot) * k_row_, layout_.head_dim);
      encode_row(layout_.type, v + (t * n_kv + g) * layout_.value_dim,
                 v_[size_t(layer)].data() + (g * cap + slot) * v_row_, layout_.value_dim);
    }
  }
}

void KvRows::apply(int64_t layer, const std::vector<KvMove>& moves,
                   const std::function<void(float*)>& rotate) {
  if (moves.empty()) return;
  check_stored(layer);
  const int64_t cap = layout_.capacity[size_t(layer)];
  uint8_t* k = k_[size_t(layer)].data();
  uint8_t* v = v_[size_t(layer)].data();
  for (const KvMove& m : moves) {
    const int64_t from = m.head * cap + m.from, to = m.head * cap + m.to;
    if (rotate) {
      decode_row(layout_.type, k + from * k_row_, scratch_key_.data(), layout_.head_dim);
      rotate(scratch_key_.data());
      encode_row(layout_.type, scratch_key_.data(), k + to * k_row_, layout_.head_dim);
    } else {
      std::copy(k + from * k_row_, k + (from + 1) * k_row_, k + to * k_row_);
    }
    std::copy(v + from * v_row_, v + (from + 1) * v_row_, v + to * v_row_);
  }
}

void KvRows::key(int64_t layer, int64_t g, int64_t slot, float* out) const {
  check_stored(layer);
  decode_row(layout_.type, keys(layer) + (g * layout_.capacity[size_t(layer)] + slot) * k_row_, out,
             layout_.head_dim);
}

void KvRows::value(int64_t layer, int64_t g, int64_t slot, float* out) const {
  check_stored(layer);
  decode_row(layout_.type, values(layer) + (g * layout_.capacity[size_t(layer)] + slot) * v_row_,
             out, layout_.value_dim);
}

}  // namespace longctx
