// The tokenizer vocabulary stored in GGUF metadata (tokenizer.ggml.*), as a tokenizer::Vocab.
#pragma once

#include "models/gguf.h"
#include "tokenizer/vocab.h"

namespace longctx {

// Throws longctx::Error naming the key when the metadata is missing or inconsistent (array
// lengths that differ, special ids outside the vocabulary, an unknown tokenizer model).
tokenizer::Vocab read_vocab(const gguf::File& file);

}  // namespace longctx
