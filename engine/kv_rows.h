// The KV cache's rows in host memory: per layer and KV head, one key and one value row per slot in
// the layout's precision (f16, q8_0 or q4_0; kernels/common/kv_rows.h). The CPU backend owns one
// for every layer (it is where attention reads); a device backend owns one for the layers whose
// policy reads keys on the host, beside its device rows. Slots are the KvBook's: rows are written
// where the book appended and moved as its eviction moves say.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/kv_book.h"

namespace longctx {

class KvRows {
 public:
  // `stored`: per layer, whether its rows are kept (empty: every layer).
  explicit KvRows(const KvLayout& layout, std::vector<bool> stored = {});

  bool stores(int64_t layer) const { return stored_[size_t(layer)]; }
  // Encodes n tokens' keys and values ([n][n_kv_head][dim] floats) into slots first_slot.. of a
  // stored layer.
  void write(int64_t layer, int64_t first_slot, int64_t n, const float* k, const float* v);
  // Carries out a book's moves on a stored layer, in their order. With `rotate`, every moved key is
  // decoded, turned, and encoded again.
  void apply(int64_t layer, const std::vector<KvMove>& moves,
             const std::function<void(float* key)>& rotate = nullptr);

  // Rows of head g start at keys(layer) + (g * capacity(layer) + slot) * key_row_bytes().
  const uint8_t* keys(int64_t layer) const { return k_[size_t(layer)].data(); }
  const uint8_t* values(int64_t layer) const { return v_[size_t(layer)].data(); }
  void key(int64_t layer, int64_t g, int64_t slot, float* out) const;
  void value(int64_t layer, int64_t g, int64_t slot, float* out) const;

 private:
  void check_stored(int64_t layer) const;

  KvLayout layout_;
  int64_t k_row_, v_row_;
  std::vector<bool> stored_;
  std::vector<std::vector<uint8_t>> k_, v_;
  std::vector<float> scratch_key_;
};

}  // namespace longctx
