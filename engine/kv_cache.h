// The KV cache: per layer and KV head, one row per slot in the cache's precision (f16, q8_0 or
// q4_0; kernels/common/kv_rows.h), plus the position of the token each slot holds. Every KV head of
// a layer holds the same number of slots, but eviction may keep different tokens per head, so
// positions are per head. Layers may have different capacities (an eviction policy bounds what its
// layer ever holds). Only the cache changes its own memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/common/kv_rows.h"

namespace longctx {

using kernels::KvType;

KvType parse_kv_type(const std::string& name);  // "f16", "q8_0", "q4_0"; throws otherwise
const char* kv_type_name(KvType type);

// How a drop of slots is carried out, so that policies keeping per-slot state can mirror it: the
// dropped slots (sorted ascending, unique) are refilled by the last kept slots, highest first. Each
// move is {from, to}; the cache then holds used - drops.size() slots.
struct SlotMove {
  int32_t from, to;
};
void plan_drop(const int32_t* drops, int64_t n_drops, int64_t used, std::vector<SlotMove>& moves);

// One slot of one KV head moved by an edit: row and position of `from` now live at `to`.
struct KvMove {
  int32_t head, from, to;
};

class KvCache {
 public:
  KvCache(int64_t n_layer, int64_t n_kv_head, int64_t head_dim, int64_t value_dim,
          std::vector<int64_t> capacity, KvType type = KvType::F16,
          std::vector<bool> rows = {});  // per layer: store rows (empty: every layer)

  int64_t n_layer() const { return int64_t(used_.size()); }
  int64_t n_kv_head() const { return n_kv_head_; }
  int64_t capacity(int64_t layer) const { return capacity_[size_t(layer)]; }
  int64_t max_capacity() const;
  int64_t used(int64_t layer) const { return used_[size_t(layer)]; }
  KvType type() const { return type_; }
  int64_t key_row_bytes() const { return k_row_; }
  int64_t value_row_bytes() const { return v_row_; }
  bool stores_rows(int64_t layer) const { return rows_[size_t(layer)]; }
  int64_t bytes() const;       // the layout's rows (what a device allocates when it holds them)
  int64_t held_bytes() const;  // slots in use, keys and values, every layer
  int64_t layer_held_bytes(int64_t layer) const {
    return n_kv_head_ * used(layer) * (k_row_ + v_row_);
  }

  // Appends n tokens' keys and values ([n][n_kv_head][dim] floats) at the given positions (k and v
  // may be null in a layer that stores no rows).
  void append(int64_t layer, int64_t n, const float* k, const float* v, const int32_t* positions);
  void clear();
  // Keeps the first n slots of every layer (they must hold positions 0..n-1).
  void truncate(int64_t n);
  // Drops slots [begin, begin + count) of a layer in every head, moving later slots down in order.
  // With `rotate` given, moved keys are decoded, turned back by count positions, re-encoded, and
  // their positions lowered by count. The moves are appended to `log` when given (head by head,
  // lowest slot first: sources and destinations overlap, a replay must stage them).
  void evict_range(int64_t layer, int64_t begin, int64_t count,
                   const std::function<void(float* key)>& rotate,
                   std::vector<KvMove>* log = nullptr);
  // Drops, per KV head, `per_head` slots: drops[g * per_head ...] sorted ascending (plan_drop).
  // The moves (no destination is another's source) are appended to `log` when given.
  void drop(int64_t layer, const std::vector<int32_t>& drops, int64_t per_head,
            std::vector<KvMove>* log = nullptr);

  // Rows of head g start at keys(layer) + (g * capacity(layer) + slot) * key_row_bytes().
  const uint8_t* keys(int64_t layer) const { return k_[size_t(layer)].data(); }
  const uint8_t* values(int64_t layer) const { return v_[size_t(layer)].data(); }
  // Positions of head g: positions(layer) + g * capacity(layer).
  const int32_t* positions(int64_t layer) const { return pos_[size_t(layer)].data(); }
  void key(int64_t layer, int64_t g, int64_t slot, float* out) const;
  void value(int64_t layer, int64_t g, int64_t slot, float* out) const;

 private:
  int64_t n_kv_head_, head_dim_, value_dim_;
  KvType type_;
  int64_t k_row_, v_row_;
  std::vector<int64_t> capacity_;
  std::vector<std::vector<uint8_t>> k_, v_;
  std::vector<std::vector<int32_t>> pos_;
  std::vector<int64_t> used_;
  std::vector<bool> rows_;
  std::vector<float> scratch_key_;
  std::vector<SlotMove> moves_;
};

}  // namespace longctx
