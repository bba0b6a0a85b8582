// What a fuzz input goes through: parse, and when the file is accepted, read every metadata
// value through the accessors and dequantize the first row of every decodable tensor, so that a
// view that escaped validation would be caught by AddressSanitizer.
#pragma once

#include <cstdint>
#include <vector>

#include "models/config.h"
#include "models/gguf.h"
#include "models/gguf_config.h"
#include "support/error.h"

namespace longctx::fuzz {

// Returns true when the bytes parsed as a valid file, false on a clean longctx::Error. Any other
// outcome (another exception, a sanitizer report) is a bug.
inline bool exercise_gguf(const uint8_t* data, size_t size) {
  try {
    auto f = gguf::File::from_bytes("fuzz.gguf", std::vector<uint8_t>(data, data + size));
    for (const auto& [key, value] : f.metadata()) {
      if (value.type == gguf::ValueType::ARRAY) {
        for (uint64_t k = 0; k < value.count && k < 64; ++k) (void)value.element(k);
      }
      try {
        (void)f.find_int<int64_t>(key);
      } catch (const Error&) {
      }
    }
    for (const gguf::TensorInfo& t : f.tensors()) {
      if (!t.type.decodable || t.rows() == 0 || t.row_elems() > (1 << 20)) continue;
      std::vector<float> row(size_t(t.row_elems()));
      quant::dequantize_row(kernels::BlockType(t.type.id), t.data, row.data(), t.row_elems());
    }
    try {
      (void)read_config(f);
      (void)read_tokenizer_summary(f);
    } catch (const Error&) {
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace longctx::fuzz
