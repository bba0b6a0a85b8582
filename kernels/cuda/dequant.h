// CUDA: dequantize rows of a GGUF block format on the device, with the block arithmetic of
// kernels/common (so the GPU result equals the CPU reference bit for bit).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/common/blocks.h"

namespace longctx::cuda {

// True when a CUDA device can run kernels; otherwise `why` says what is missing.
bool device_available(std::string* why);

// dst[r * row_elems + i] = element i of row r. src and dst are device pointers; rows are packed.
// Returns false for a type without a dequantizer. Synchronous on the default stream.
bool dequantize_rows(kernels::BlockType type, const uint8_t* src, float* dst, int64_t n_rows,
                     int64_t row_elems);

// Host-side convenience for tests: copies `src_bytes` to the device, dequantizes, copies back.
// Throws longctx::Error on a CUDA failure (cuda::check).
void dequantize_rows_host(kernels::BlockType type, const uint8_t* src, size_t src_bytes, float* dst,
                          int64_t n_rows, int64_t row_elems);

}  // namespace longctx::cuda
