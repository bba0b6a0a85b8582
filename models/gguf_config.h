// Hyper-parameters and the tokenizer's summary from a GGUF file's metadata (models/config.cpp).
#pragma once

#include "models/config.h"
#include "models/gguf.h"

namespace longctx {

// Reads and checks the hyper-parameters; throws longctx::Error naming the key on any problem,
// including an architecture longctx does not run.
ModelConfig read_config(const gguf::File& file);

TokenizerSummary read_tokenizer_summary(const gguf::File& file);

}  // namespace longctx
