// SentencePiece vocabularies (Gemma, Llama 2) run through the sentencepiece library: the GGUF
// vocabulary becomes a ModelProto that sentencepiece loads, so GGUF and tokenizer.model files
// share one code path.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace longctx::tokenizer {

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab);

// The serialized sentencepiece ModelProto (BPE model) for a SentencePiece vocabulary.
std::string spm_model_proto(const Vocab& vocab);

}  // namespace longctx::tokenizer
