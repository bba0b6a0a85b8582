// The table of GGUF tensor types (one source of truth for names, block sizes and which types
// longctx can decode), and the reference dequantization of a row to float.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "kernels/common/blocks.h"

namespace longctx::quant {

using kernels::BlockType;

struct TypeInfo {
  int32_t id;             // ggml_type id as stored in GGUF
  std::string_view name;  // as llama.cpp and the gguf package print it
  int32_t block_elems;    // elements per block
  int32_t block_bytes;    // bytes per block
  bool decodable;         // longctx has a dequantizer for it
};

// Every ggml type id that GGUF files may carry, decodable or not (so `info` can list any file).
std::optional<TypeInfo> find_type(int32_t id);
TypeInfo type_info(BlockType type);
std::span<const TypeInfo> all_types();

// Bytes of a row of `elems` elements; `elems` must be a multiple of the block size.
int64_t row_bytes(const TypeInfo& type, int64_t elems);

// Dequantizes one row of `elems` elements. Throws longctx::Error for a type longctx cannot decode
// or a row length that is not a whole number of blocks.
void dequantize_row(BlockType type, const uint8_t* src, float* dst, int64_t elems);

}  // namespace longctx::quant
