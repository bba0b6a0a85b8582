// The tokenizer of a Hugging Face folder: tokenizer.model (SentencePiece) or tokenizer.json
// (byte-level BPE), with tokenizer_config.json (special tokens, add_bos, chat template) and
// generation_config.json (end-of-generation ids).
#pragma once

#include <string>

#include "models/config.h"
#include "tokenizer/vocab.h"

namespace longctx {

tokenizer::Vocab read_hf_vocab(const std::string& folder, const ModelConfig& config);

}  // namespace longctx
