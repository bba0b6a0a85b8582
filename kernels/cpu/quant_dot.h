// Integer dot products between weights in a block format with 32-element (sub-)blocks (Q4_0, Q4_1,
// Q5_0, Q5_1, Q8_0, and the K-quants Q4_K and Q6_K sub-block by sub-block) and activations
// quantized to int16 in blocks of 32 (scale d, sum of codes): the weight block's codes meet the
// activation codes in 16-bit multiply-adds (AVX2 vpmaddwd, or AVX-512 VNNI vpdpwssd where the
// processor has it). Why int16 and not llama.cpp's int8 activations: 8-bit activations moved logits
// by up to 1.0 against transformers and changed greedy text on the real models; 16 bits keep the
// result within float rounding of the exact product while still skipping the float dequantization.
#pragma once

#include <cstdint>

#include "kernels/common/blocks.h"

namespace longctx::cpu {

// Activations of one row, quantized: q[32 * b + i], scale d[b], sum of codes sum[b].
struct Q16Activations {
  int16_t* q;
  float* d;
  int32_t* sum;
};

// True when this machine has an integer path for the weight type.
bool has_integer_dot(kernels::BlockType type);

// Quantizes n floats (a multiple of 32) to int16 blocks: d = max|x| / 32767, q = round(x / d).
void quantize_q16(const float* x, int64_t n, Q16Activations out);

// sum_i w[i] * x[i] over n_blocks blocks of 32, w one packed row of the weight type.
float dot_q16(kernels::BlockType type, const uint8_t* w, const Q16Activations& x, int64_t n_blocks);

// out[r] = the dot of row r (at w + r * row_bytes) with x, for r < n_rows: rows grouped so that
// each activation block is loaded once per group. Each row's result equals dot_q16 on it alone.
void dot_q16_rows(kernels::BlockType type, const uint8_t* w, int64_t row_bytes, int64_t n_rows,
                  const Q16Activations& x, int64_t n_blocks, float* out);

}  // namespace longctx::cpu
