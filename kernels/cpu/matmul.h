// Products of a weight matrix stored in a GGUF block format with float activations, computed
// directly over the blocks: each thread decodes a small tile of weight rows into its stack and
// reuses it for every token, so no dequantized copy of the weights ever exists.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/common/matrix_view.h"

namespace longctx::cpu {

using kernels::MatrixView;

// Longest row a tile buffer holds (floats on each thread's stack).
inline constexpr int64_t kMaxMatmulCols = 32768;

// y[t * w.rows + r] = sum_c w[r][c] * x[t * w.cols + c], for t < n_tokens; threads with OpenMP.
void matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y);

// Several matrices over the same input (q, k and v; gate and up): y[i] = w[i] x. While decoding
// this is one parallel region and one quantization of x instead of one per matrix.
struct MatmulOut {
  const MatrixView* w;
  float* y;
};
void matmul_shared_input(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens);

// Row r of w as floats (embedding lookup).
void dequantize_row(const MatrixView& w, int64_t r, float* out);

}  // namespace longctx::cpu
