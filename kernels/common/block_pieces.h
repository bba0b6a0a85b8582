// 32-element pieces of a block, decoded alone: what dequantize_blocks gives for those elements, bit
// for bit, reading only the bytes the piece needs. A k-quant super-block of 256 is 8 pieces, a
// legacy block of 32 is one. The CUDA matrix-vector kernel gives each lane a piece, so a warp
// reads a row's bytes in order and no lane keeps a whole super-block in local memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/common/blocks.h"

namespace longctx::kernels {

inline constexpr int kPiece = 32;  // elements in a piece

// Pieces per block of a block-quantized type (0 for F32, F16, BF16).
LC_HD constexpr int pieces_per_block(BlockType type) {
  const int elems = block_shape(type).elems;
  return elems == 1 ? 0 : elems / kPiece;
}

// Decodes piece `piece` (elements [32 * piece, 32 * piece + 32)) of the block at `block` into y.
// Block-quantized types only; returns false otherwise.
LC_HD bool dequantize_piece(BlockType type, const uint8_t* block, int piece, float* y) {
  switch (type) {
    case BlockType::Q4_0:
    case BlockType::Q4_1:
    case BlockType::Q5_0:
    case BlockType::Q5_1:
    case BlockType::Q8_0:
    case BlockType::MXFP4:
      return dequantize_blocks(type, block, y, 1);  // one piece, the block
    case BlockType::Q2_K: {
      const float d = fp16_at(block + offsetof(BlockQ2_K, d));
      const float dmin = fp16_at(block + offsetof(BlockQ2_K, dmin));
      const int half = piece / 4, shift = piece % 4;
      const uint8_t* qs = block + offsetof(BlockQ2_K, qs) + 32 * half;
      for (int sub = 0; sub < 2; ++sub) {
        const uint8_t sc = block[offsetof(BlockQ2_K, scales) + 8 * half + 2 * shift + sub];
        const float dl = mul_rn(d, float(sc & 0x0f)), ml = mul_rn(dmin, float(sc >> 4));
        for (int l = 0; l < 16; ++l)
          y[16 * sub + l] = sub_rn(mul_rn(dl, float((qs[16 * sub + l] >> (2 * shift)) & 3)), ml);
      }
      return true;
    }
    case BlockType::Q3_K: {
      const float d = fp16_at(block + offsetof(BlockQ3_K, d));
      const int half = piece / 4, shift = piece % 4;
      const uint8_t* qs = block + offsetof(BlockQ3_K, qs) + 32 * half;
      const uint8_t* hmask = block + offsetof(BlockQ3_K, hmask);
      const uint8_t* scales = block + offsetof(BlockQ3_K, scales);
      for (int sub = 0; sub < 2; ++sub) {
        const float dl = mul_rn(d, float(q3k_scale(scales, 8 * half + 2 * shift + sub)));
        for (int l = 0; l < 16; ++l) {
          const int low2 = (qs[16 * sub + l] >> (2 * shift)) & 3;
          const bool high = hmask[16 * sub + l] & (1u << (4 * half + shift));
          y[16 * sub + l] = mul_rn(dl, float(low2 - (high ? 0 : 4)));
        }
      }
      return true;
    }
    case BlockType::Q4_K:
    case BlockType::Q5_K: {
      // Q4_K and Q5_K share d, dmin and scales at the same offsets; Q5_K adds a fifth bit.
      const bool five = type == BlockType::Q5_K;
      const float d = fp16_at(block + offsetof(BlockQ4_K, d));
      const float dmin = fp16_at(block + offsetof(BlockQ4_K, dmin));
      int sc, m;
      k4_scale_min(block + offsetof(BlockQ4_K, scales), piece, sc, m);
      const float dl = mul_rn(d, float(sc)), ml = mul_rn(dmin, float(m));
      const int chunk = piece / 2, nib = piece % 2;
      const uint8_t* qs =
          block + (five ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs)) + 32 * chunk;
      const uint8_t* qh = block + offsetof(BlockQ5_K, qh);
      for (int l = 0; l < 32; ++l) {
        int q = (qs[l] >> (4 * nib)) & 0x0f;
        if (five) q |= ((qh[l] >> piece) & 1) << 4;
        y[l] = sub_rn(mul_rn(dl, float(q)), ml);
      }
      return true;
    }
    case BlockType::Q6_K: {
      // Piece p: half p / 4 of the super-block, quarter k = p % 4 of that half (q1..q4).
      const float d = fp16_at(block + offsetof(BlockQ6_K, d));
      const int half = piece / 4, k = piece % 4;
      const uint8_t* ql = block + offsetof(BlockQ6_K, ql) + 64 * half + 32 * (k & 1);
      const uint8_t* qh = block + offsetof(BlockQ6_K, qh) + 32 * half;
      const int8_t* sc =
          reinterpret_cast<const int8_t*>(block + offsetof(BlockQ6_K, scales)) + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int low = k < 2 ? (ql[l] & 0x0f) : (ql[l] >> 4);
        const int q = (low | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
        y[l] = mul_rn(mul_rn(d, float(sc[l / 16 + 2 * k])), float(q));
      }
      return true;
    }
    case BlockType::Q8_K: {
      float d;
      memcpy(&d, block + offsetof(BlockQ8_K, d), 4);
      const int8_t* qs = reinterpret_cast<const int8_t*>(block + offsetof(BlockQ8_K, qs));
      for (int l = 0; l < 32; ++l) y[l] = mul_rn(d, float(qs[32 * piece + l]));
      return true;
    }
    default:
      return false;
  }
}

}  // namespace longctx::kernels
