// Prompt-sized products of a weight matrix in a GGUF block format with float activations, in
// 16-bit integers: the activations are quantized once per call as for decoding (int16 in blocks of
// 32, quant_dot.h), the weight rows are decoded a group at a time into 16-bit codes laid out so
// that one vector holds the same two elements of 16 rows (8 with AVX2), and each code vector
// meets a broadcast pair of activations in one multiply-add (AVX-512 VNNI vpdpwssd, else
// vpmaddwd). Several tokens share every code vector, so each weight byte is decoded once per call
// and never as a float. The float factors of each 32-element piece (its scale, and its minimum in
// the formats that have one) are applied once per piece to the integer sums.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/common/blocks.h"
#include "kernels/cpu/matmul.h"

namespace longctx::cpu {

// How a block format reads as codes c (int16) with float factors: w = s * c + o. One s per
// 32-element piece, or two (one per 16 elements) where the format has 16-element scales (Q6_K);
// o per piece where the format stores a minimum (Q4_1, Q5_1, Q4_K, Q5_K).
struct GemmLayout {
  bool supported = false;
  bool offset = false;
  bool half_scales = false;
};
GemmLayout gemm_layout(kernels::BlockType type);

// Rows in one vector of the tile kernels on this machine: 16 (AVX-512), 8 (AVX2), 0 (neither,
// or LONGCTX_CPU_ISA=scalar).
int gemm_lanes();

// True when products over many tokens with this weight type take the integer tile kernels here.
bool has_integer_gemm(kernels::BlockType type);

// Decodes rows [r0, r0 + gemm_lanes()) of w into the tile layout (rows past w.rows read as zero):
// codes[(b * 16 + p) * lanes + r] holds elements 32b + 2p and 32b + 2p + 1 of row r0 + r as two
// int16 (the lower address first); scale[(b * n_s + h) * lanes + r] with n_s = 2 for half scales
// (h the half of the piece), else 1; offset[b * lanes + r] where the layout has one.
void decode_row_group(const kernels::MatrixView& w, int64_t r0, int32_t* codes, float* scale,
                      float* offset);

// y[i][t * w.rows + r] = sum_c w[i][r][c] * x[t * cols + c] for matrices of one width whose types
// all have has_integer_gemm: x quantized once, every matrix's row groups in one parallel loop.
void gemm_q16(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens);

}  // namespace longctx::cpu
