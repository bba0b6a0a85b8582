// Storage of one KV row (one token's key or value for one KV head) in the cache's precision: IEEE
// half, or ggml's q8_0 / q4_0 blocks of 32 (the layouts of blocks.h, so the GGUF dequantizers read
// them). Quantization follows ggml's reference rounding (quantize_row_q8_0_ref / _q4_0_ref),
// written once for host and device.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/common/blocks.h"
#include "kernels/common/fp16.h"
#include "kernels/common/host_device.h"
#include "kernels/common/rope.h"

namespace longctx::kernels {

enum class KvType : int32_t { F16 = 0, Q8_0 = 1, Q4_0 = 2 };

// Bytes of one row of `dim` elements; quantized types need dim % 32 == 0.
LC_HD int64_t kv_row_bytes(KvType type, int64_t dim) {
  switch (type) {
    case KvType::Q8_0:
      return dim / kQK * int64_t(sizeof(BlockQ8_0));
    case KvType::Q4_0:
      return dim / kQK * int64_t(sizeof(BlockQ4_0));
    default:
      return dim * 2;
  }
}

// q8_0: d = max|x| / 127, q = round(x / d).
LC_HD void quantize_block_q8_0(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = fmaxf(amax, fabsf(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  BlockQ8_0 b;
  b.d = float_to_fp16(d);
  for (int j = 0; j < kQK; ++j) b.qs[j] = int8_t(roundf(x[j] * id));
  memcpy(out, &b, sizeof b);
}

// q4_0: the element of largest magnitude, with its sign, maps to -8; q = min(15, x / d + 8.5).
LC_HD void quantize_block_q4_0(const float* x, uint8_t* out) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (fabsf(x[j]) > amax) {
      amax = fabsf(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  BlockQ4_0 b;
  b.d = float_to_fp16(d);
  for (int j = 0; j < kQK / 2; ++j) {
    int lo = int(int8_t(x[j] * id + 8.5f));
    int hi = int(int8_t(x[j + kQK / 2] * id + 8.5f));
    lo = lo < 15 ? lo : 15;
    hi = hi < 15 ? hi : 15;
    b.qs[j] = uint8_t(lo | (hi << 4));
  }
  memcpy(out, &b, sizeof b);
}

LC_HD void encode_kv_row(KvType type, const float* x, uint8_t* out, int64_t dim) {
  switch (type) {
    case KvType::Q8_0:
      for (int64_t i = 0; i < dim / kQK; ++i)
        quantize_block_q8_0(x + i * kQK, out + i * sizeof(BlockQ8_0));
      break;
    case KvType::Q4_0:
      for (int64_t i = 0; i < dim / kQK; ++i)
        quantize_block_q4_0(x + i * kQK, out + i * sizeof(BlockQ4_0));
      break;
    default:
      for (int64_t i = 0; i < dim; ++i) {
        uint16_t h = float_to_fp16(x[i]);
        memcpy(out + 2 * i, &h, 2);
      }
  }
}

LC_HD void decode_kv_row(KvType type, const uint8_t* row, float* y, int64_t dim) {
  switch (type) {
    case KvType::Q8_0:
      dequantize_blocks(BlockType::Q8_0, row, y, dim / kQK);
      break;
    case KvType::Q4_0:
      dequantize_blocks(BlockType::Q4_0, row, y, dim / kQK);
      break;
    default:
      for (int64_t i = 0; i < dim; ++i) {
        uint16_t h;
        memcpy(&h, row + 2 * i, 2);
        y[i] = fp16_to_float(h);
      }
  }
}

// Element i of a KV row decoded alone, bit for bit what decode_kv_row gives at i: a warp decodes
// one row with its lanes over the elements (coalesced reads on the device).
LC_HD float kv_element(KvType type, const uint8_t* row, int64_t i) {
  switch (type) {
    case KvType::Q8_0: {
      const uint8_t* b = row + (i / kQK) * int64_t(sizeof(BlockQ8_0));
      return mul_rn(float(int8_t(b[2 + i % kQK])), fp16_at(b));
    }
    case KvType::Q4_0: {
      const uint8_t* b = row + (i / kQK) * int64_t(sizeof(BlockQ4_0));
      const int w = int(i % kQK);
      const uint8_t byte = b[2 + w % (kQK / 2)];
      const int q = w < kQK / 2 ? (byte & 0x0f) : (byte >> 4);
      return mul_rn(fp16_at(b), float(q - 8));
    }
    default:
      return fp16_at(row + 2 * i);
  }
}

// The most elements a turned row holds (head dimensions up to 256, as the attention kernels).
inline constexpr int64_t kMaxRotatedDim = 256;

// A key moved by a re-positioning eviction: decoded from src, turned pair by pair by (cos, sin)
// (rotate_pairs) and encoded into dst, in the cache's precision. dim <= kMaxRotatedDim.
LC_HD void rotate_kv_row(KvType type, const uint8_t* src, uint8_t* dst, int64_t dim,
                         const float* cos, const float* sin, int64_t n_rot, bool halves) {
  float key[kMaxRotatedDim];
  decode_kv_row(type, src, key, dim);
  rotate_pairs(key, n_rot, cos, sin, halves);
  encode_kv_row(type, key, dst, dim);
}

}  // namespace longctx::kernels
