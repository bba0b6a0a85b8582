#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/dequant.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/launch.h"

namespace longctx::cuda {
namespace {

// One thread per block: rows are packed, so block b of the tensor starts at b * block_bytes
// and its floats at b * block_elems.
__global__ void dequantize_kernel(kernels::BlockType type, const uint8_t* src, float* dst,
                                  int64_t n_blocks, int block_elems, int block_bytes) {
  int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= n_blocks) return;
  kernels::dequantize_blocks(type, src + b * block_bytes, dst + b * block_elems, 1);
}

}  // namespace

bool device_available(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why) *why = std::string("no usable CUDA device (") + cudaGetErrorString(err) + ")";
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device";
    return false;
  }
  return true;
}

bool dequantize_rows(kernels::BlockType type, const uint8_t* src, float* dst, int64_t n_rows,
                     int64_t row_elems) {
  kernels::BlockShape shape = kernels::block_shape(type);
  if (shape.elems == 0 || row_elems % shape.elems != 0) return false;
  int64_t n_blocks = n_rows * (row_elems / shape.elems);
  constexpr int kThreads = 128;
  int64_t grid = (n_blocks + kThreads - 1) / kThreads;
  if (grid > 0) {
    LC_LAUNCH(unsigned(grid), kThreads, 0, dequantize_kernel)
    (type, src, dst, n_blocks, shape.elems, shape.bytes);
  }
  return cudaGetLastError() == cudaSuccess;
}

void dequantize_rows_host(kernels::BlockType type, const uint8_t* src, size_t src_bytes, float* dst,
                          int64_t n_rows, int64_t row_elems) {
  uint8_t* d_src = nullptr;
  float* d_dst = nullptr;
  size_t dst_bytes = size_t(n_rows * row_elems) * sizeof(float);
  check(cudaMalloc(&d_src, src_bytes), "cudaMalloc");
  cudaError_t err = cudaMalloc(&d_dst, dst_bytes);
  if (err != cudaSuccess) {
    cudaFree(d_src);
    check(err, "cudaMalloc");
  }
  err = cudaMemcpy(d_src, src, src_bytes, cudaMemcpyHostToDevice);
  bool ok = err == cudaSuccess && dequantize_rows(type, d_src, d_dst, n_rows, row_elems);
  if (ok) err = cudaDeviceSynchronize();
  if (ok && err == cudaSuccess) err = cudaMemcpy(dst, d_dst, dst_bytes, cudaMemcpyDeviceToHost);
  cudaFree(d_src);
  cudaFree(d_dst);
  if (!ok) check(cudaErrorLaunchFailure, "dequantize kernel launch");
  check(err, "dequantize");
}

}  // namespace longctx::cuda
