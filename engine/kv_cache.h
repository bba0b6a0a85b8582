// The KV cache: per layer, keys and values in IEEE half, [kv_head][slot][head_dim], plus the
// position of the token in each slot. Only the cache changes its own memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace longctx {

class KvCache {
 public:
  KvCache(int64_t n_layer, int64_t n_kv_head, int64_t head_dim, int64_t value_dim,
          int64_t capacity);

  int64_t capacity() const { return capacity_; }
  int64_t used(int64_t layer) const { return used_[size_t(layer)]; }
  int64_t bytes() const;

  // Appends n tokens' keys and values ([n][n_kv_head][dim] floats) at the given positions.
  void append(int64_t layer, int64_t n, const float* k, const float* v, const int32_t* positions);
  void clear();
  // Keeps the first n slots of every layer (they must hold positions 0..n-1).
  void truncate(int64_t n);
  // Drops slots [begin, begin + count) of a layer, moving later slots down. With `rotate` given,
  // moved keys are re-rotated by -count positions and their positions lowered by count: rotate is
  // called on each moved key (as floats) to turn it back by count positions.
  void evict(int64_t layer, int64_t begin, int64_t count,
             const std::function<void(float* key, int64_t count)>& rotate);

  const uint16_t* keys(int64_t layer) const { return k_[size_t(layer)].data(); }
  const uint16_t* values(int64_t layer) const { return v_[size_t(layer)].data(); }
  const int32_t* positions(int64_t layer) const { return pos_[size_t(layer)].data(); }

 private:
  int64_t n_kv_head_, head_dim_, value_dim_, capacity_;
  std::vector<std::vector<uint16_t>> k_, v_;
  std::vector<std::vector<int32_t>> pos_;
  std::vector<int64_t> used_;
  std::vector<float> scratch_key_;  // one key as floats while re-rotating
};

}  // namespace longctx
