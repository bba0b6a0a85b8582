// Byte-level BPE (GPT-2 family: SmolLM2, Qwen2.5, Llama 3): bytes mapped to printable characters,
// then merges by rank within each pre-tokenizer chunk.
#pragma once

#include <memory>

#include "tokenizer/tokenizer.h"

namespace longctx::tokenizer {

std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab);

}  // namespace longctx::tokenizer
