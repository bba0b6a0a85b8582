// Rotating one head's vector by precomputed angles (cos/sin per rotated pair), written once for the
// CPU and the device: RoPE at a position, and turning cached keys back when a streaming cache
// re-positions its tokens.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace longctx::kernels {

// Rotates the n_rot / 2 pairs of x: (2i, 2i+1) for the interleaved layout (llama), (i, i + n_rot/2)
// for halves (NeoX), pair i by the angle whose cosine and sine are cos[i], sin[i].
LC_HD void rotate_pairs(float* x, int64_t n_rot, const float* cos, const float* sin, bool halves) {
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const int64_t a = halves ? i : 2 * i;
    const int64_t b = halves ? i + half : 2 * i + 1;
    const float x0 = x[a], x1 = x[b];
    x[a] = x0 * cos[i] - x1 * sin[i];
    x[b] = x0 * sin[i] + x1 * cos[i];
  }
}

}  // namespace longctx::kernels
