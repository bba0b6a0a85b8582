// A view of a weight matrix stored in a GGUF block format: rows of `cols` elements, packed.
#pragma once

#include <cstdint>

#include "kernels/common/blocks.h"

namespace longctx::kernels {

struct MatrixView {
  BlockType type = BlockType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;  // output features
  int64_t cols = 0;  // input features (elements per stored row)
  int64_t row_bytes = 0;
};

}  // namespace longctx::kernels
