// The arithmetic both attention kernels (kernels/cpu/attention.cpp, kernels/cuda/attention.cu)
// share, written once: which keys a query sees, which keys of a selection one split of a decode
// step reads, and how the splits' partial softmax sums merge (flash-decoding).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/host_device.h"

namespace longctx::kernels {

// A key at key_pos is visible to a query at q_pos: not later, and inside the window when the layer
// has one (q_pos - key_pos < window).
LC_HD bool key_visible(int32_t key_pos, int32_t q_pos, int64_t window) {
  return key_pos <= q_pos && !(window > 0 && int64_t(q_pos) - key_pos >= window);
}

// Split `split` of n_splits reads keys [lo, hi) of a selection of `total` keys, counted across
// its spans in order (equal shares, the last one shorter).
struct KeyShare {
  int64_t lo, hi;
};
LC_HD KeyShare split_share(int64_t total, int64_t n_splits, int64_t split) {
  const int64_t per = (total + n_splits - 1) / n_splits;
  const int64_t lo = split * per;
  return {lo, lo + per < total ? lo + per : total};
}

// What a split leaves per (query, head) row: head_dim unnormalised sums, then its running maximum
// and its denominator.
LC_HD int64_t partial_stride(int64_t head_dim) {
  return head_dim + 2;
}

// The common maximum of a row's splits (partials [n_splits][partial_stride]); -inf when no split
// saw a visible key.
LC_HD float merge_max(const float* partials, int64_t n_splits, int64_t head_dim) {
  float mx = -INFINITY;
  for (int64_t s = 0; s < n_splits; ++s) {
    const float m = partials[s * partial_stride(head_dim) + head_dim];
    mx = m > mx ? m : mx;
  }
  return mx;
}

// The factor split s's sums are scaled by under the common maximum: 0 for a split without keys.
LC_HD float merge_weight(const float* partials, int64_t s, int64_t head_dim, float mx) {
  const float m = partials[s * partial_stride(head_dim) + head_dim];
  return m == -INFINITY ? 0.0f : expf(m - mx);
}

// The row's log normaliser from the merged maximum and denominator (+inf: nothing visible, the
// statistics pass skips the row).
LC_HD float merged_lse(float mx, float denom) {
  return denom > 0.0f ? mx + logf(denom) : INFINITY;
}

}  // namespace longctx::kernels
