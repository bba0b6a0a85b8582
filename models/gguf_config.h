// Hyper-parameters and the tokenizer's summary from a GGUF file's metadata (models/config.cpp),
// the rope factors from its tensors (models/gguf_model.cpp).
#pragma once

#include "models/config.h"
#include "models/gguf.h"

namespace longctx {

// Reads and checks the hyper-parameters; throws longctx::Error naming the key on any problem,
// including an architecture longctx does not run.
ModelConfig read_config(const gguf::File& file);

TokenizerSummary read_tokenizer_summary(const gguf::File& file);

// Completes the rope scaling from the factors llama.cpp's converter writes as tensors: rope_freqs
// (Llama 3.x: frequency i divided by factor i) and rope_factors_long/short (LongRoPE, Phi-3).
// Throws longctx::Error on factors that are not positive, two scalings at once, or an attention
// factor without yarn or LongRoPE (models/gguf_model.cpp).
void read_rope_tensors(const gguf::File& file, ModelConfig& config);

}  // namespace longctx
