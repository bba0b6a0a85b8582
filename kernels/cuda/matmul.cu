// Quantized products on the device: a matrix-vector kernel over the blocks in place for decode,
// dequantize-then-cuBLAS for prefill (bfloat16 tiles on the tensor cores, or float SGEMM).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/common/block_pieces.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/launch.h"
#include "support/error.h"

namespace longctx::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerCta = 4;  // one warp per row

// A lane decodes 32 elements at a time: a legacy block, a piece of a k-quant super-block
// (kernels::dequantize_piece, reading only that piece's bytes) or 32 unblocked elements.
constexpr int kChunk = kernels::kPiece;

// The block type is a template parameter: each kernel carries one decoder (the generic switch
// over every type cost 255 registers and spills).
template <kernels::BlockType B>
__device__ inline void decode_chunk(const uint8_t* row, int64_t c, float* out) {
  constexpr kernels::BlockShape shape = kernels::block_shape(B);
  constexpr int per_block = kernels::pieces_per_block(B);
  if constexpr (per_block == 0) {
    kernels::dequantize_blocks(B, row + c * kChunk * shape.bytes, out, kChunk);
  } else {
    kernels::dequantize_piece(B, row + (c / per_block) * shape.bytes, int(c % per_block), out);
  }
}

// One warp per row; lane l takes chunks l, l + 32, ... (neighbouring lanes read neighbouring
// bytes); each chunk is decoded into registers and met by every token of x.
template <int T, kernels::BlockType B>
__global__ void gemv_kernel(kernels::MatrixView w, const float* __restrict__ x, int64_t n_tokens,
                            float* __restrict__ y) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerCta + threadIdx.y;
  if (row >= w.rows) return;
  const int lane = threadIdx.x;
  const int64_t n_chunks = w.cols / kChunk;
  const uint8_t* src = w.data + row * w.row_bytes;
  float acc[T];
  for (int t = 0; t < T; ++t) acc[t] = 0.0f;
  float buf[kChunk];
  for (int64_t c = lane; c < n_chunks; c += kWarp) {
    decode_chunk<B>(src, c, buf);
    for (int t = 0; t < T; ++t) {
      if (t >= n_tokens) break;
      const float* xc = x + t * w.cols + c * kChunk;
      float s = 0.0f;
      for (int i = 0; i < kChunk; ++i) s += buf[i] * xc[i];
      acc[t] += s;
    }
  }
  for (int t = 0; t < T && t < n_tokens; ++t) {
    float s = acc[t];
    for (int off = kWarp / 2; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) y[t * w.rows + row] = s;
  }
}

__device__ inline void store(uint16_t* dst, float v) {
  const __nv_bfloat16 b = __float2bfloat16_rn(v);
  *dst = *reinterpret_cast<const uint16_t*>(&b);
}

// One thread per chunk of n_rows rows: row r of the output is row (rows ? rows[r] : r0 + r) of w
// (a chunk of the matrix for the cuBLAS path, the tokens' rows for an embedding lookup), as floats
// or rounded to bfloat16.
template <typename Out, kernels::BlockType B>
__global__ void dequantize_rows_kernel(kernels::MatrixView w, const int32_t* rows, int64_t r0,
                                       int64_t n_rows, Out* out) {
  const int64_t chunks_per_row = w.cols / kChunk;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_rows * chunks_per_row) return;
  const int64_t r = i / chunks_per_row, c = i % chunks_per_row;
  const int64_t src_row = rows ? int64_t(rows[r]) : r0 + r;
  Out* dst = out + r * w.cols + c * kChunk;
  if constexpr (sizeof(Out) == sizeof(float)) {
    decode_chunk<B>(w.data + src_row * w.row_bytes, c, dst);
  } else {
    float buf[kChunk];
    decode_chunk<B>(w.data + src_row * w.row_bytes, c, buf);
    for (int k = 0; k < kChunk; ++k) store(dst + k, buf[k]);
  }
}

// Calls f with the block type as a compile-time constant (std::integral_constant).
template <typename F>
void with_block_type(kernels::BlockType type, F&& f) {
  using T = kernels::BlockType;
  switch (type) {
#define LC_TYPE_CASE(NAME)                   \
  case T::NAME:                              \
    f(std::integral_constant<T, T::NAME>{}); \
    return;
    LC_TYPE_CASE(F32)
    LC_TYPE_CASE(F16)
    LC_TYPE_CASE(BF16)
    LC_TYPE_CASE(Q4_0)
    LC_TYPE_CASE(Q4_1)
    LC_TYPE_CASE(Q5_0)
    LC_TYPE_CASE(Q5_1)
    LC_TYPE_CASE(Q8_0)
    LC_TYPE_CASE(Q2_K)
    LC_TYPE_CASE(Q3_K)
    LC_TYPE_CASE(Q4_K)
    LC_TYPE_CASE(Q5_K)
    LC_TYPE_CASE(Q6_K)
    LC_TYPE_CASE(Q8_K)
    LC_TYPE_CASE(MXFP4)
#undef LC_TYPE_CASE
  }
  throw Error("CUDA matmul: a weight type without a decoder");
}

template <typename Out>
void launch_dequantize_rows(const MatrixView& w, const int32_t* rows, int64_t r0, int64_t n_rows,
                            Out* out);

__global__ void to_bf16_kernel(const float* x, int64_t n, uint16_t* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) store(out + i, x[i]);
}

void check_shape(const MatrixView& w) {
  const int64_t unit = std::max<int64_t>(kChunk, kernels::block_shape(w.type).elems);
  if (w.cols % unit != 0)
    throw Error("CUDA matmul: rows of " + std::to_string(w.cols) +
                " elements are not whole blocks of their type (or of 32 elements)");
  if (kernels::block_shape(w.type).elems == 0)
    throw Error("CUDA matmul: a weight type without a decoder");
}

unsigned blocks_for(int64_t n, int threads) {
  return unsigned((n + threads - 1) / threads);
}

template <typename Out>
void launch_dequantize_rows(const MatrixView& w, const int32_t* rows, int64_t r0, int64_t n_rows,
                            Out* out) {
  const unsigned grid = blocks_for(n_rows * (w.cols / kChunk), 128);
  with_block_type(w.type, [&](auto tag) {
    LC_LAUNCH(grid, 128, 0, dequantize_rows_kernel<Out, decltype(tag)::value>)
    (w, rows, r0, n_rows, out);
  });
}

}  // namespace

GemmPrecision parse_gemm_precision(const char* name) {
  if (std::strcmp(name, "f32") == 0) return GemmPrecision::F32;
  if (std::strcmp(name, "bf16") == 0) return GemmPrecision::BF16;
  throw Error(std::string("CUDA GEMM precision ") + name + ": expected f32 or bf16");
}

MatmulWorkspace::MatmulWorkspace() {
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) throw Error("CUDA: cublasCreate failed");
}

MatmulWorkspace::~MatmulWorkspace() {
  if (handle) cublasDestroy(handle);
}

void gemv(const MatrixView& w, const float* x, int64_t n_tokens, float* y) {
  check_shape(w);
  if (n_tokens <= 0) return;
  if (n_tokens > kGemvMaxTokens) throw Error("CUDA gemv: too many tokens");
  dim3 block(kWarp, kRowsPerCta);
  unsigned grid = unsigned((w.rows + kRowsPerCta - 1) / kRowsPerCta);
  with_block_type(w.type, [&](auto tag) {
    constexpr kernels::BlockType B = decltype(tag)::value;
    if (n_tokens == 1) {
      LC_LAUNCH(grid, block, 0, gemv_kernel<1, B>)(w, x, n_tokens, y);
    } else {
      LC_LAUNCH(grid, block, 0, gemv_kernel<kGemvMaxTokens, B>)(w, x, n_tokens, y);
    }
  });
  check_launch("gemv");
}

void matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y, MatmulWorkspace& ws) {
  if (n_tokens <= kGemvMaxTokens) return gemv(w, x, n_tokens, y);
  check_shape(w);
  // Rows in chunks of at most 16 Mi elements, each dequantized and multiplied by cuBLAS:
  // y (rows x n, column-major with ld = w.rows) = W^T-as-stored (cols x rows)^T * x (cols x n).
  const int64_t chunk_rows =
      std::max<int64_t>(1, std::min<int64_t>(w.rows, (int64_t(16) << 20) / w.cols));
  const bool bf16 = ws.precision == GemmPrecision::BF16;
  if (bf16) {
    ws.rows_bf16.resize(size_t(chunk_rows * w.cols));
    ws.x_bf16.resize(size_t(n_tokens * w.cols));
    LC_LAUNCH(blocks_for(n_tokens * w.cols, 256), 256, 0, to_bf16_kernel)
    (x, n_tokens * w.cols, ws.x_bf16.get());
    check_launch("to_bf16");
  } else {
    ws.rows.resize(size_t(chunk_rows * w.cols));
  }
  const float one = 1.0f, zero = 0.0f;
  for (int64_t r0 = 0; r0 < w.rows; r0 += chunk_rows) {
    const int64_t nr = std::min(chunk_rows, w.rows - r0);
    cublasStatus_t st;
    if (bf16) {
      launch_dequantize_rows(w, nullptr, r0, nr, ws.rows_bf16.get());
      check_launch("dequantize_rows bf16");
      st = cublasGemmEx(ws.handle, CUBLAS_OP_T, CUBLAS_OP_N, int(nr), int(n_tokens), int(w.cols),
                        &one, ws.rows_bf16.get(), CUDA_R_16BF, int(w.cols), ws.x_bf16.get(),
                        CUDA_R_16BF, int(w.cols), &zero, y + r0, CUDA_R_32F, int(w.rows),
                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    } else {
      launch_dequantize_rows(w, nullptr, r0, nr, ws.rows.get());
      check_launch("dequantize_rows");
      st =
          cublasSgemm(ws.handle, CUBLAS_OP_T, CUBLAS_OP_N, int(nr), int(n_tokens), int(w.cols),
                      &one, ws.rows.get(), int(w.cols), x, int(w.cols), &zero, y + r0, int(w.rows));
    }
    if (st != CUBLAS_STATUS_SUCCESS)
      throw Error(std::string("CUDA: cuBLAS ") + (bf16 ? "GemmEx (bf16)" : "Sgemm") +
                  " failed with status " + std::to_string(int(st)));
  }
}

void embed(const MatrixView& w, const int32_t* tokens, int64_t n_tokens, float* out) {
  check_shape(w);
  const int64_t work = n_tokens * (w.cols / kChunk);
  if (work == 0) return;
  launch_dequantize_rows(w, tokens, 0, n_tokens, out);
  check_launch("embed");
}

}  // namespace longctx::cuda
