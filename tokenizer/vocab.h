// A tokenizer's vocabulary as data, independent of the file it came from (GGUF metadata today,
// tokenizer.json / tokenizer.model later). models/ fills it; tokenizer/ builds a Tokenizer from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace longctx::tokenizer {

// Token kinds, numbered as GGUF's tokenizer.ggml.token_type (gguf.md 3.2).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

enum class VocabKind { Bpe, Spm };

struct Vocab {
  VocabKind kind = VocabKind::Bpe;
  std::string pre;  // pre-tokenizer name (BPE), e.g. "smollm", "qwen2", "llama-bpe", "gpt-2"
  std::vector<std::string> tokens;
  std::vector<float> scores;        // SPM merge priorities (empty for BPE)
  std::vector<TokenType> types;     // one per token
  std::vector<std::string> merges;  // BPE merges "left right", by rank
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;                 // SPM: a leading space before the text
  bool remove_extra_whitespaces = false;         // SPM normalizer
  std::vector<int32_t> extra_end_of_generation;  // e.g. generation_config.json's eos_token_id list
  std::string spm_model;                         // a serialized sentencepiece model to load as is
  std::string chat_template;                     // Jinja text, empty when the file has none
  // The chat template family to use when the model carries no template (its architecture's row,
  // ArchInfo::default_chat_template); empty: none.
  std::string default_chat_template;
};

}  // namespace longctx::tokenizer
