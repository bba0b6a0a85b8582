// The files a loaded Model's weight views point into: for the loaders and for `info`, never for
// the engine (the layering check keeps engine/ from including this).
#pragma once

#include <optional>
#include <vector>

#include "models/gguf.h"
#include "models/safetensors.h"

namespace longctx {

struct ModelFiles {
  std::optional<gguf::File> gguf;
  std::vector<safetensors::File> shards;
};

}  // namespace longctx
