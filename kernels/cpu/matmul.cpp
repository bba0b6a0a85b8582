#include "kernels/cpu/matmul.h"

#include <omp.h>

#include <algorithm>

#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/quant_gemm.h"
#include "kernels/cpu/vec.h"

#include <vector>

namespace longctx::cpu {
namespace {

// Rows decoded together: 8 rows of up to 4096 floats stay in L2 while every token visits them.
constexpr int64_t kTileRows = 8;

}  // namespace

// The shared block decoder, compiled once per instruction set so the compiler vectorizes it for
// the machine it runs on (GCC picks the clone at load time).
__attribute__((target_clones("avx512f", "avx2", "default"))) void decode_blocks(
    kernels::BlockType type, const uint8_t* src, float* dst, int64_t n_blocks) {
  kernels::dequantize_blocks(type, src, dst, n_blocks);
}

void dequantize_row(const MatrixView& w, int64_t r, float* out) {
  kernels::BlockShape shape = kernels::block_shape(w.type);
  decode_blocks(w.type, w.data + r * w.row_bytes, out, w.cols / shape.elems);
}

void matmul_float(const MatrixView& w, const float* x, int64_t n_tokens, float* y);

// Formats with 32-element (sub-)blocks meet int16-quantized activations in integer dot products.
// Decoding matrices of one width: x quantized once, the tiles of every matrix
// shared out in one parallel loop.
void matmul_integer_many(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens) {
  const int64_t cols = outs[0].w->cols, n_blocks = cols / 32;
  static thread_local std::vector<int16_t> q;
  static thread_local std::vector<float> d;
  static thread_local std::vector<int32_t> sum;
  if (q.size() < size_t(n_tokens * cols)) q.resize(size_t(n_tokens * cols));
  if (d.size() < size_t(n_tokens * n_blocks)) {
    d.resize(size_t(n_tokens * n_blocks));
    sum.resize(size_t(n_tokens * n_blocks));
  }
  for (int64_t t = 0; t < n_tokens; ++t) {
    quantize_q16(x + t * cols, cols,
                 {q.data() + t * cols, d.data() + t * n_blocks, sum.data() + t * n_blocks});
  }
  int64_t first_tile[5] = {0, 0, 0, 0, 0};  // outs.size() <= 4
  for (size_t m = 0; m < outs.size(); ++m)
    first_tile[m + 1] = first_tile[m] + (outs[m].w->rows + kTileRows - 1) / kTileRows;
  const int64_t n_tiles = first_tile[outs.size()];
  const int16_t* qp = q.data();
  const float* dp = d.data();
  const int32_t* sp = sum.data();
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < n_tiles; ++tile) {
    size_t m = 0;
    while (tile >= first_tile[m + 1]) ++m;
    const MatrixView& w = *outs[m].w;
    float* y = outs[m].y;
    int64_t r0 = (tile - first_tile[m]) * kTileRows;
    int64_t nr = std::min(kTileRows, w.rows - r0);
    for (int64_t t = 0; t < n_tokens; ++t) {
      Q16Activations xa{const_cast<int16_t*>(qp + t * cols), const_cast<float*>(dp + t * n_blocks),
                        const_cast<int32_t*>(sp + t * n_blocks)};
      dot_q16_rows(w.type, w.data + r0 * w.row_bytes, w.row_bytes, nr, xa, n_blocks,
                   y + t * w.rows + r0);
    }
  }
}

// Decoding (few tokens): integer dots re-read the packed blocks, which is cheapest. Prefill: the
// integer tile kernels decode each row group once and share it among all tokens of the chunk.
constexpr int64_t kIntegerMaxTokens = 4;

// Which integer path serves these matrices over n_tokens, if one does.
enum class IntegerPath { None, Dots, Tiles };
IntegerPath integer_path(std::span<const MatmulOut> outs, int64_t n_tokens) {
  const bool dots = n_tokens <= kIntegerMaxTokens;
  if (dots && outs.size() > 4) return IntegerPath::None;
  for (const auto& o : outs) {
    const bool type_ok = dots ? has_integer_dot(o.w->type) : has_integer_gemm(o.w->type);
    if (!type_ok || o.w->cols % 32 != 0 || o.w->cols != outs[0].w->cols) return IntegerPath::None;
  }
  return dots ? IntegerPath::Dots : IntegerPath::Tiles;
}

void matmul_shared_input(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens) {
  switch (integer_path(outs, n_tokens)) {
    case IntegerPath::Dots:
      matmul_integer_many(outs, x, n_tokens);
      return;
    case IntegerPath::Tiles:
      gemm_q16(outs, x, n_tokens);
      return;
    case IntegerPath::None:
      for (const auto& o : outs) matmul_float(*o.w, x, n_tokens, o.y);
  }
}

void matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y) {
  const MatmulOut one[] = {{&w, y}};
  matmul_shared_input(one, x, n_tokens);
}

// Formats without an integer path (F32, F16, BF16, Q2_K, Q3_K ...) and machines without AVX2: a
// tile of rows decoded to floats once and reused for every token of the chunk.
void matmul_float(const MatrixView& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t n_tiles = (w.rows + kTileRows - 1) / kTileRows;
  const bool f32 = w.type == kernels::BlockType::F32;
  const bool wide = detected_isa() == Isa::Avx512;
#pragma omp parallel
  {
    // One tile of decoded rows per thread; sized for the longest supported row.
    static thread_local float tile[kTileRows * kMaxMatmulCols];
#pragma omp for schedule(static)
    for (int64_t t = 0; t < n_tiles; ++t) {
      int64_t r0 = t * kTileRows;
      int64_t nr = std::min(kTileRows, w.rows - r0);
      const float* rows[kTileRows];
      for (int64_t i = 0; i < nr; ++i) {
        if (f32) {
          rows[i] = reinterpret_cast<const float*>(w.data + (r0 + i) * w.row_bytes);
        } else {
          dequantize_row(w, r0 + i, tile + i * w.cols);
          rows[i] = tile + i * w.cols;
        }
      }
      int64_t tok = 0;
      // Blocks of 4 rows x 6 tokens where the registers allow, then 4 x 4, the rest one by one.
      for (; wide && tok + 6 <= n_tokens && nr % 4 == 0; tok += 6) {
        const float* xt = x + tok * w.cols;
        for (int64_t i = 0; i < nr; i += 4) {
          float out[4][6];
          dot_4x6(rows + i, xt, w.cols, w.cols, out);
          for (int r = 0; r < 4; ++r) {
            for (int t = 0; t < 6; ++t) y[(tok + t) * w.rows + r0 + i + r] = out[r][t];
          }
        }
      }
      // Blocks of 4 rows x 4 tokens through the register-blocked core, the rest one by one.
      for (; tok + 4 <= n_tokens; tok += 4) {
        const float* xt = x + tok * w.cols;
        int64_t i = 0;
        for (; i + 4 <= nr; i += 4) {
          float out[4][4];
          dot_4x4(rows + i, xt, w.cols, w.cols, out);
          for (int r = 0; r < 4; ++r) {
            for (int t = 0; t < 4; ++t) y[(tok + t) * w.rows + r0 + i + r] = out[r][t];
          }
        }
        for (; i < nr; ++i) {
          for (int t = 0; t < 4; ++t)
            y[(tok + t) * w.rows + r0 + i] = dot_f32(rows[i], xt + t * w.cols, w.cols);
        }
      }
      for (; tok < n_tokens; ++tok) {
        const float* xt = x + tok * w.cols;
        float* yt = y + tok * w.rows + r0;
        for (int64_t i = 0; i < nr; ++i) yt[i] = dot_f32(rows[i], xt, w.cols);
      }
    }
  }
}

}  // namespace longctx::cpu
