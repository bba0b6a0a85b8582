// The KV cache's bookkeeping: per layer and KV head, the position of the token each slot holds and
// how many slots are in use, and the moves an eviction makes. It holds no rows: each backend owns
// the rows of the cache where it computes (engine/kv_rows.h on the host, device memory on a GPU)
// and carries out the moves the book reports. Every KV head of a layer holds the same number of
// slots, but eviction may keep different tokens per head, so positions are per head. Layers may
// have different capacities (an eviction policy bounds what its layer ever holds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/kv_rows.h"

namespace longctx {

using kernels::KvType;

KvType parse_kv_type(const std::string& name);  // "f16", "q8_0", "q4_0"; throws otherwise
const char* kv_type_name(KvType type);

// The cache's shape, which the book and every backend's rows share.
struct KvLayout {
  int64_t n_kv_head = 0, head_dim = 0, value_dim = 0;
  KvType type = KvType::F16;
  std::vector<int64_t> capacity;  // per layer, in slots

  // Throws longctx::Error when a quantized precision does not divide the head dimensions.
  KvLayout(int64_t n_kv_head, int64_t head_dim, int64_t value_dim, std::vector<int64_t> capacity,
           KvType type = KvType::F16);
  int64_t n_layer() const { return int64_t(capacity.size()); }
  int64_t key_row_bytes() const { return kernels::kv_row_bytes(type, head_dim); }
  int64_t value_row_bytes() const { return kernels::kv_row_bytes(type, value_dim); }
  int64_t max_capacity() const;
  int64_t bytes() const;  // every layer's rows, keys and values (what a device allocates)
};

// One slot of one KV head moved by an edit: row and position of `from` now live at `to`.
struct KvMove {
  int32_t head, from, to;
};

class KvBook {
 public:
  explicit KvBook(KvLayout layout);

  const KvLayout& layout() const { return layout_; }
  int64_t n_layer() const { return layout_.n_layer(); }
  int64_t n_kv_head() const { return layout_.n_kv_head; }
  KvType type() const { return layout_.type; }
  int64_t capacity(int64_t layer) const { return layout_.capacity[size_t(layer)]; }
  int64_t used(int64_t layer) const { return used_[size_t(layer)]; }
  int64_t bytes() const { return layout_.bytes(); }
  int64_t held_bytes() const;  // the rows of the slots in use, keys and values, every layer
  int64_t layer_held_bytes(int64_t layer) const {
    return layout_.n_kv_head * used(layer) * (layout_.key_row_bytes() + layout_.value_row_bytes());
  }
  // Positions of head g: positions(layer) + g * capacity(layer).
  const int32_t* positions(int64_t layer) const { return pos_[size_t(layer)].data(); }

  // Takes n slots of a layer for tokens at `positions` and returns the first; the caller's rows go
  // there. Throws longctx::Error when the layer is full.
  int64_t append(int64_t layer, int64_t n, const int32_t* positions);
  void clear();
  // Keeps the first n slots of every layer (they must hold positions 0..n-1).
  void truncate(int64_t n);
  // Drops slots [begin, begin + count) of a layer in every head, moving later slots down in order;
  // moved positions are lowered by `shift` (a re-positioning eviction, whose keys the rows' owner
  // turns back). Sets `moves` head by head, lowest slot first: sources and destinations overlap,
  // so they are carried out in that order (or staged).
  void evict_range(int64_t layer, int64_t begin, int64_t count, int32_t shift,
                   std::vector<KvMove>& moves);
  // Drops, per KV head, `per_head` slots: drops[g * per_head ...] sorted ascending (plan_drop).
  // Sets `moves`; no destination is another's source.
  void drop(int64_t layer, const std::vector<int32_t>& drops, int64_t per_head,
            std::vector<KvMove>& moves);

 private:
  KvLayout layout_;
  std::vector<std::vector<int32_t>> pos_;
  std::vector<int64_t> used_;
  // How a drop of slots is carried out: the dropped slots (sorted ascending, unique) are refilled
  // by the last kept slots, highest first; the cache then holds used - n_drops slots.
  struct SlotMove {
    int32_t from, to;
  };
  static void plan_drop(const int32_t* drops, int64_t n_drops, int64_t used,
                        std::vector<SlotMove>& moves);
  std::vector<SlotMove> plan_;
};

}  // namespace longctx
