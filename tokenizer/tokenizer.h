// One interface over every vocabulary kind: encode with or without BOS/EOS and with or without
// matching special tokens in the text, decode (whole or streamed), and the special ids.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace longctx::tokenizer {

using Token = int32_t;

class Tokenizer {
 public:
  // Builds the tokenizer the vocabulary describes (byte-level BPE or SentencePiece); throws
  // longctx::Error when it cannot.
  static std::unique_ptr<Tokenizer> create(Vocab vocab);
  virtual ~Tokenizer() = default;

  // add_special: BOS/EOS as the vocabulary asks. parse_special: control tokens written in the
  // text (e.g. "<|im_start|>") become their ids; otherwise they are tokenized as plain text.
  std::vector<Token> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes a token stands for (control tokens: their text, or nothing when skip_special).
  std::string token_to_piece(Token id, bool skip_special = false) const;
  // The text of `ids`; bytes that do not form UTF-8 (a cut inside a character) become U+FFFD,
  // one per maximal ill-formed piece, as the Hugging Face tokenizers decode.
  std::string decode(std::span<const Token> ids, bool skip_special = false) const;

  const Vocab& vocab() const { return vocab_; }
  int32_t vocab_size() const { return int32_t(vocab_.tokens.size()); }
  Token bos() const { return vocab_.bos; }
  Token eos() const { return vocab_.eos; }
  Token eot() const { return eot_; }
  // Every token that ends generation: EOS, EOT, EOM and the end-of-turn tokens found by text.
  const std::vector<Token>& end_of_generation() const { return eog_; }
  bool is_end_of_generation(Token id) const;
  bool is_control(Token id) const;

 protected:
  explicit Tokenizer(Vocab vocab);
  // Encodes one stretch of plain text (no special tokens in it). `first` is true for the stretch
  // at the start of the text or right after a special token.
  virtual void encode_text(std::string_view text, bool first, std::vector<Token>& out) const = 0;
  // The bytes of a normal, user-defined or byte token.
  virtual std::string piece_bytes(Token id) const = 0;

  Vocab vocab_;

 private:
  struct Trie;
  void split_special(std::string_view text, bool parse_special, std::vector<Token>& out) const;

  Token eot_ = -1;
  std::vector<Token> eog_;
  std::shared_ptr<const Trie> control_trie_;  // control (and unknown) tokens, matched on request
  std::shared_ptr<const Trie> user_trie_;     // user-defined tokens, always matched (BPE)
};

// Streams decoded text: feeds token ids, hands back only complete UTF-8 characters, so a
// character split across tokens is never printed in halves.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}
  std::string push(Token id);
  std::string flush();  // whatever is left, with incomplete bytes as U+FFFD

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace longctx::tokenizer
