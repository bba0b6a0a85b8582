// bfloat16 as the device converts it (tests/cuda_cpu/runtime.h's folder stands in for CUDA's).
#pragma once

#include <cstdint>
#include <cstring>

#include "tests/cuda_cpu/runtime.h"

struct __nv_bfloat16 {
  uint16_t bits;
};

// Round to nearest, ties to even, NaN kept a (quiet) NaN: the device's cvt.rn.bf16.f32.
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {uint16_t((u >> 16) | 0x0040u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return {uint16_t(u >> 16)};
}

inline float __bfloat162float(__nv_bfloat16 b) {
  const uint32_t u = uint32_t(b.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
