// SentencePiece vocabularies (Gemma, Llama 2) run through the sentencepiece library: the GGUF
// vocabulary becomes a ModelProto that sentencepiece loads, so GGUF and tokenizer.model files
// share one code path.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace longctx::tokenizer {

// Texts longer than `segment_bytes` are encoded in segments cut where no piece can span the cut
// (same ids, linear time; 0: every text whole, as sentencepiece alone does it).
inline constexpr size_t kSpmSegmentBytes = 16384;
std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab, size_t segment_bytes = kSpmSegmentBytes);

// The serialized sentencepiece ModelProto (BPE model) for a SentencePiece vocabulary.
std::string spm_model_proto(const Vocab& vocab);

// A Vocab from a serialized sentencepiece model (a tokenizer.model file): pieces, scores, types
// and special ids read through the library; the model itself is kept and loaded as is.
Vocab vocab_from_spm_model(std::string serialized);

}  // namespace longctx::tokenizer
