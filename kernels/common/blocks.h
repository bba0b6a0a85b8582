// GGUF block formats: byte layouts and the dequantization of one block to floats, shared by the
// CPU and CUDA backends. Layouts follow ggml-common.h (ggml/src/ggml-common.h: block_q4_0 ...
// block_q8_K); the order of float operations follows the `gguf` Python package, so results match it
// bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/fp16.h"
#include "kernels/common/host_device.h"

namespace longctx::kernels {

// ggml_type ids as stored in GGUF tensor infos.
enum class BlockType : int32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
  MXFP4 = 39,
};

inline constexpr int kQK = 32;     // elements in a legacy block
inline constexpr int kQK_K = 256;  // elements in a k-quant super-block
inline constexpr int kKScaleSize = 12;

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
// OCP microscaling FP4 (gpt-oss's expert weights): 32 E2M1 values and one shared E8M0 exponent.
// Element j < 16 is the low nibble of qs[j], element j + 16 its high nibble (ggml's block_mxfp4).
struct BlockMXFP4 {
  uint8_t e;
  uint8_t qs[kQK / 2];
};
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // low nibble scale, high nibble min
  uint8_t qs[kQK_K / 4];
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockMXFP4) == 17);
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// Elements and bytes per block of each decodable type (F32/F16/BF16 count as 1-element blocks).
struct BlockShape {
  int elems;
  int bytes;
};

LC_HD constexpr BlockShape block_shape(BlockType type) {
  switch (type) {
    case BlockType::F32:
      return {1, 4};
    case BlockType::F16:
      return {1, 2};
    case BlockType::BF16:
      return {1, 2};
    case BlockType::Q4_0:
      return {kQK, int(sizeof(BlockQ4_0))};
    case BlockType::Q4_1:
      return {kQK, int(sizeof(BlockQ4_1))};
    case BlockType::Q5_0:
      return {kQK, int(sizeof(BlockQ5_0))};
    case BlockType::Q5_1:
      return {kQK, int(sizeof(BlockQ5_1))};
    case BlockType::Q8_0:
      return {kQK, int(sizeof(BlockQ8_0))};
    case BlockType::Q2_K:
      return {kQK_K, int(sizeof(BlockQ2_K))};
    case BlockType::Q3_K:
      return {kQK_K, int(sizeof(BlockQ3_K))};
    case BlockType::Q4_K:
      return {kQK_K, int(sizeof(BlockQ4_K))};
    case BlockType::Q5_K:
      return {kQK_K, int(sizeof(BlockQ5_K))};
    case BlockType::Q6_K:
      return {kQK_K, int(sizeof(BlockQ6_K))};
    case BlockType::Q8_K:
      return {kQK_K, int(sizeof(BlockQ8_K))};
    case BlockType::MXFP4:
      return {kQK, int(sizeof(BlockMXFP4))};
  }
  return {0, 0};
}

// Reads a block from raw bytes; blocks in a file need not be aligned for their struct.
template <typename Block>
LC_HD Block load_block(const uint8_t* bytes) {
  Block b;
  memcpy(&b, bytes, sizeof b);
  return b;
}

LC_HD void dequantize_block(const BlockQ4_0& b, float* y) {
  float d = fp16_to_float(b.d);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = mul_rn(d, float(int(b.qs[j] & 0x0f) - 8));
    y[j + kQK / 2] = mul_rn(d, float(int(b.qs[j] >> 4) - 8));
  }
}

LC_HD void dequantize_block(const BlockQ4_1& b, float* y) {
  float d = fp16_to_float(b.d), m = fp16_to_float(b.m);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = add_rn(mul_rn(d, float(b.qs[j] & 0x0f)), m);
    y[j + kQK / 2] = add_rn(mul_rn(d, float(b.qs[j] >> 4)), m);
  }
}

// Element j of a 5-bit block: low nibble from qs, fifth bit from the 32-bit mask qh.
LC_HD int q5_value(const uint8_t* qs, uint32_t qh, int j) {
  int low = (j < kQK / 2) ? (qs[j] & 0x0f) : (qs[j - kQK / 2] >> 4);
  return low | int((qh >> j) & 1u) << 4;
}

LC_HD void dequantize_block(const BlockQ5_0& b, float* y) {
  float d = fp16_to_float(b.d);
  uint32_t qh;
  memcpy(&qh, b.qh, 4);
  for (int j = 0; j < kQK; ++j) y[j] = mul_rn(d, float(q5_value(b.qs, qh, j) - 16));
}

LC_HD void dequantize_block(const BlockQ5_1& b, float* y) {
  float d = fp16_to_float(b.d), m = fp16_to_float(b.m);
  uint32_t qh;
  memcpy(&qh, b.qh, 4);
  for (int j = 0; j < kQK; ++j) y[j] = add_rn(mul_rn(d, float(q5_value(b.qs, qh, j))), m);
}

LC_HD void dequantize_block(const BlockQ8_0& b, float* y) {
  float d = fp16_to_float(b.d);
  for (int j = 0; j < kQK; ++j) y[j] = mul_rn(float(b.qs[j]), d);
}

// E2M1 codes doubled (0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives, times 2), so that the block's
// scale is half its E8M0 exponent's power of two (ggml's kvalues_mxfp4, ggml_e8m0_to_fp32_half).
LC_HD float mxfp4_code(int nibble) {
  constexpr int8_t kValues[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
  return float(kValues[nibble & 15]);
}

// 2^(e - 128) as a float, subnormal for e < 2 (the `gguf` package's e8m0_to_fp32_half).
LC_HD float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? uint32_t(0x00200000) << e : uint32_t(e - 1) << 23;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

// Each value is a power of two times a small integer: the products are exact.
LC_HD void dequantize_block(const BlockMXFP4& b, float* y) {
  const float d = e8m0_half(b.e);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = mul_rn(d, mxfp4_code(b.qs[j] & 0x0f));
    y[j + kQK / 2] = mul_rn(d, mxfp4_code(b.qs[j] >> 4));
  }
}

LC_HD void dequantize_block(const BlockQ2_K& b, float* y) {
  float d = fp16_to_float(b.d), dmin = fp16_to_float(b.dmin);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* qs = b.qs + 32 * half;
    for (int shift = 0; shift < 4; ++shift) {
      for (int sub = 0; sub < 2; ++sub) {
        uint8_t sc = b.scales[8 * half + 2 * shift + sub];
        float dl = mul_rn(d, float(sc & 0x0f));
        float ml = mul_rn(dmin, float(sc >> 4));
        float* out = y + 128 * half + 32 * shift + 16 * sub;
        for (int l = 0; l < 16; ++l) {
          out[l] = sub_rn(mul_rn(dl, float((qs[16 * sub + l] >> (2 * shift)) & 3)), ml);
        }
      }
    }
  }
}

// Q3_K keeps 16 signed 6-bit scales with an offset of 32: low nibbles in bytes 0..7 (two per
// byte), the two high bits of scale i in byte 8 + i%4 at bit 2*(i/4).
LC_HD int q3k_scale(const uint8_t* scales, int i) {
  int low4 = (i < 8) ? (scales[i] & 0x0f) : (scales[i - 8] >> 4);
  int high2 = (scales[8 + (i % 4)] >> (2 * (i / 4))) & 3;
  return (low4 | high2 << 4) - 32;
}

LC_HD void dequantize_block(const BlockQ3_K& b, float* y) {
  float d = fp16_to_float(b.d);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* qs = b.qs + 32 * half;
    for (int shift = 0; shift < 4; ++shift) {
      for (int sub = 0; sub < 2; ++sub) {
        float dl = mul_rn(d, float(q3k_scale(b.scales, 8 * half + 2 * shift + sub)));
        float* out = y + 128 * half + 32 * shift + 16 * sub;
        for (int l = 0; l < 16; ++l) {
          int low2 = (qs[16 * sub + l] >> (2 * shift)) & 3;
          bool high = b.hmask[16 * sub + l] & (1u << (4 * half + shift));
          out[l] = mul_rn(dl, float(low2 - (high ? 0 : 4)));
        }
      }
    }
  }
}

// Q4_K / Q5_K pack eight 6-bit (scale, min) pairs into 12 bytes (gguf.md get_scale_min_k4).
LC_HD void k4_scale_min(const uint8_t* q, int j, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

LC_HD void dequantize_block(const BlockQ4_K& b, float* y) {
  float d = fp16_to_float(b.d), dmin = fp16_to_float(b.dmin);
  for (int chunk = 0; chunk < 4; ++chunk) {
    for (int nib = 0; nib < 2; ++nib) {
      int sc, m;
      k4_scale_min(b.scales, 2 * chunk + nib, sc, m);
      float dl = mul_rn(d, float(sc)), ml = mul_rn(dmin, float(m));
      const uint8_t* qs = b.qs + 32 * chunk;
      float* out = y + 64 * chunk + 32 * nib;
      for (int l = 0; l < 32; ++l) {
        out[l] = sub_rn(mul_rn(dl, float((qs[l] >> (4 * nib)) & 0x0f)), ml);
      }
    }
  }
}

LC_HD void dequantize_block(const BlockQ5_K& b, float* y) {
  float d = fp16_to_float(b.d), dmin = fp16_to_float(b.dmin);
  for (int chunk = 0; chunk < 4; ++chunk) {
    for (int nib = 0; nib < 2; ++nib) {
      int sc, m;
      int sub = 2 * chunk + nib;
      k4_scale_min(b.scales, sub, sc, m);
      float dl = mul_rn(d, float(sc)), ml = mul_rn(dmin, float(m));
      const uint8_t* qs = b.qs + 32 * chunk;
      float* out = y + 64 * chunk + 32 * nib;
      for (int l = 0; l < 32; ++l) {
        int q = ((qs[l] >> (4 * nib)) & 0x0f) | (((b.qh[l] >> sub) & 1) << 4);
        out[l] = sub_rn(mul_rn(dl, float(q)), ml);
      }
    }
  }
}

LC_HD void dequantize_block(const BlockQ6_K& b, float* y) {
  float d = fp16_to_float(b.d);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    const int8_t* sc = b.scales + 8 * half;
    float* out = y + 128 * half;
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int q1 = ((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
      int q2 = ((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
      int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
      int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
      out[l] = mul_rn(mul_rn(d, float(sc[is])), float(q1));
      out[l + 32] = mul_rn(mul_rn(d, float(sc[is + 2])), float(q2));
      out[l + 64] = mul_rn(mul_rn(d, float(sc[is + 4])), float(q3));
      out[l + 96] = mul_rn(mul_rn(d, float(sc[is + 6])), float(q4));
    }
  }
}

LC_HD void dequantize_block(const BlockQ8_K& b, float* y) {
  for (int j = 0; j < kQK_K; ++j) y[j] = mul_rn(b.d, float(b.qs[j]));
}

// Dequantizes `n_blocks` consecutive blocks of type `type` (block-quantized types only; F32,
// F16 and BF16 are treated as blocks of one element). Returns false for an unsupported type.
LC_HD bool dequantize_blocks(BlockType type, const uint8_t* src, float* dst, int64_t n_blocks) {
  switch (type) {
#define LC_DEQUANT_CASE(TYPE, BLOCK, ELEMS)                                          \
  case BlockType::TYPE:                                                              \
    for (int64_t i = 0; i < n_blocks; ++i) {                                         \
      dequantize_block(load_block<BLOCK>(src + i * sizeof(BLOCK)), dst + i * ELEMS); \
    }                                                                                \
    return true;
    LC_DEQUANT_CASE(Q4_0, BlockQ4_0, kQK)
    LC_DEQUANT_CASE(Q4_1, BlockQ4_1, kQK)
    LC_DEQUANT_CASE(Q5_0, BlockQ5_0, kQK)
    LC_DEQUANT_CASE(Q5_1, BlockQ5_1, kQK)
    LC_DEQUANT_CASE(Q8_0, BlockQ8_0, kQK)
    LC_DEQUANT_CASE(Q2_K, BlockQ2_K, kQK_K)
    LC_DEQUANT_CASE(Q3_K, BlockQ3_K, kQK_K)
    LC_DEQUANT_CASE(Q4_K, BlockQ4_K, kQK_K)
    LC_DEQUANT_CASE(Q5_K, BlockQ5_K, kQK_K)
    LC_DEQUANT_CASE(Q6_K, BlockQ6_K, kQK_K)
    LC_DEQUANT_CASE(Q8_K, BlockQ8_K, kQK_K)
    LC_DEQUANT_CASE(MXFP4, BlockMXFP4, kQK)
#undef LC_DEQUANT_CASE
    case BlockType::F32:
      memcpy(dst, src, size_t(n_blocks) * 4);
      return true;
    case BlockType::F16:
      for (int64_t i = 0; i < n_blocks; ++i) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = fp16_to_float(h);
      }
      return true;
    case BlockType::BF16:
      for (int64_t i = 0; i < n_blocks; ++i) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_float(h);
      }
      return true;
    default:
      return false;
  }
}

}  // namespace longctx::kernels
