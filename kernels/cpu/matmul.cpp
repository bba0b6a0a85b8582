#include "kernels/cpu/matmul.h"

#include <omp.h>

#include <algorithm>

#include "kernels/cpu/vec.h"

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

void dequantize_row(const QMatrix& w, int64_t r, float* out) {
  kernels::BlockShape shape = kernels::block_shape(w.type);
  decode_blocks(w.type, w.data + r * w.row_bytes, out, w.cols / shape.elems);
}

void matmul(const QMatrix& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t n_tiles = (w.rows + kTileRows - 1) / kTileRows;
  const bool f32 = w.type == kernels::BlockType::F32;
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
      for (int64_t tok = 0; tok < n_tokens; ++tok) {
        const float* xt = x + tok * w.cols;
        float* yt = y + tok * w.rows + r0;
        for (int64_t i = 0; i < nr; ++i) yt[i] = dot_f32(rows[i], xt, w.cols);
      }
    }
  }
}

}  // namespace longctx::cpu
