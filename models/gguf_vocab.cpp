#include "models/gguf_vocab.h"

#include "models/architecture.h"
#include "support/error.h"

namespace longctx {

tokenizer::Vocab read_vocab(const gguf::File& f) {
  using tokenizer::TokenType;
  tokenizer::Vocab v;
  std::string model(f.get_string("tokenizer.ggml.model"));
  if (model == "gpt2") {
    v.kind = tokenizer::VocabKind::Bpe;
  } else if (model == "llama") {
    v.kind = tokenizer::VocabKind::Spm;
  } else {
    f.fail_key("tokenizer.ggml.model", f.find("tokenizer.ggml.model"),
               "tokenizer '" + model + "' is not supported (gpt2 or llama)");
  }
  if (const ArchInfo* arch = find_arch(f.find_string("general.architecture").value_or("")))
    v.default_chat_template = std::string(arch->default_chat_template);
  v.pre = std::string(f.find_string("tokenizer.ggml.pre").value_or("default"));
  for (std::string_view t : f.get_string_array("tokenizer.ggml.tokens")) v.tokens.emplace_back(t);
  const size_t n = v.tokens.size();
  if (n == 0) f.fail_key("tokenizer.ggml.tokens", f.find("tokenizer.ggml.tokens"), "is empty");

  if (f.find("tokenizer.ggml.token_type")) {
    auto types = f.get_int_array<int32_t>("tokenizer.ggml.token_type");
    if (types.size() != n) {
      f.fail_key(
          "tokenizer.ggml.token_type", f.find("tokenizer.ggml.token_type"),
          "has " + std::to_string(types.size()) + " entries for " + std::to_string(n) + " tokens");
    }
    for (int32_t t : types) {
      if (t < 0 || t > int32_t(TokenType::Byte)) {
        f.fail_key("tokenizer.ggml.token_type", f.find("tokenizer.ggml.token_type"),
                   "unknown token type " + std::to_string(t));
      }
      v.types.push_back(TokenType(t));
    }
  } else {
    v.types.assign(n, TokenType::Normal);
  }
  if (f.find("tokenizer.ggml.scores")) {
    v.scores = f.get_float_array("tokenizer.ggml.scores");
    if (v.scores.size() != n) {
      f.fail_key("tokenizer.ggml.scores", f.find("tokenizer.ggml.scores"),
                 "has " + std::to_string(v.scores.size()) + " entries for " + std::to_string(n) +
                     " tokens");
    }
  }
  if (v.kind == tokenizer::VocabKind::Bpe) {
    for (std::string_view m : f.get_string_array("tokenizer.ggml.merges")) v.merges.emplace_back(m);
  } else if (v.scores.empty()) {
    f.fail_key("tokenizer.ggml.scores", nullptr,
               "is missing (a SentencePiece vocabulary needs it)");
  }

  auto special = [&](const char* key, int32_t fallback) {
    auto id = f.find_int<int64_t>(key);
    if (!id) return fallback;
    if (*id < 0 || *id >= int64_t(n)) {
      f.fail_key(
          key, f.find(key),
          "id " + std::to_string(*id) + " is outside the vocabulary of " + std::to_string(n));
    }
    return int32_t(*id);
  };
  // Defaults when a key is absent follow llama.cpp (gguf.md 5.2-5.3).
  bool spm = v.kind == tokenizer::VocabKind::Spm;
  v.bos = special("tokenizer.ggml.bos_token_id", spm ? 1 : -1);
  v.eos = special("tokenizer.ggml.eos_token_id", spm ? 2 : -1);
  v.unk = special("tokenizer.ggml.unknown_token_id", spm ? 0 : -1);
  v.pad = special("tokenizer.ggml.padding_token_id", -1);
  v.eot = special("tokenizer.ggml.eot_token_id", -1);
  v.eom = special("tokenizer.ggml.eom_token_id", -1);
  bool llama3_family = v.pre == "llama3" || v.pre == "llama-v3" || v.pre == "llama-bpe";
  v.add_bos = f.find_bool("tokenizer.ggml.add_bos_token").value_or(spm || llama3_family);
  v.add_eos = f.find_bool("tokenizer.ggml.add_eos_token").value_or(false);
  v.add_space_prefix = f.find_bool("tokenizer.ggml.add_space_prefix").value_or(spm);
  v.remove_extra_whitespaces =
      f.find_bool("tokenizer.ggml.remove_extra_whitespaces").value_or(false);
  v.chat_template = std::string(f.find_string("tokenizer.chat_template").value_or(""));
  return v;
}

}  // namespace longctx
