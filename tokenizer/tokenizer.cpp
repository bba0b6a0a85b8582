#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <map>

#include "support/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace longctx::tokenizer {

// A byte trie over token texts, for leftmost-longest matching of special tokens in the text
// (the rule of Hugging Face's added-token matcher).
struct Tokenizer::Trie {
  struct Node {
    std::map<uint8_t, int32_t> next;
    Token token = -1;
  };
  std::vector<Node> nodes{1};

  void insert(std::string_view text, Token id) {
    int32_t at = 0;
    for (uint8_t c : text) {
      auto it = nodes[size_t(at)].next.find(c);
      if (it == nodes[size_t(at)].next.end()) {
        nodes.push_back({});
        int32_t created = int32_t(nodes.size() - 1);
        nodes[size_t(at)].next.emplace(c, created);
        at = created;
      } else {
        at = it->second;
      }
    }
    if (nodes[size_t(at)].token < 0) nodes[size_t(at)].token = id;
  }

  // The longest token that starts at text[pos]: (id, length), or (-1, 0).
  std::pair<Token, size_t> longest(std::string_view text, size_t pos) const {
    std::pair<Token, size_t> best{-1, 0};
    int32_t at = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      auto it = nodes[size_t(at)].next.find(uint8_t(text[i]));
      if (it == nodes[size_t(at)].next.end()) break;
      at = it->second;
      if (nodes[size_t(at)].token >= 0) best = {nodes[size_t(at)].token, i - pos + 1};
    }
    return best;
  }
  bool empty() const { return nodes[0].next.empty(); }
};

namespace {

// Texts llama.cpp recognises as end-of-turn tokens when the metadata names none (gguf.md 5.4).
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<EOT>",
    "<\xef\xbd\x9c"
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<|eom_id|>"};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::create(Vocab vocab) {
  if (vocab.types.size() != vocab.tokens.size()) throw Error("vocabulary: token types missing");
  if (vocab.kind == VocabKind::Bpe) return make_bpe_tokenizer(std::move(vocab));
  return make_spm_tokenizer(std::move(vocab));
}

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  auto control = std::make_shared<Trie>();
  auto user = std::make_shared<Trie>();
  for (size_t id = 0; id < vocab_.tokens.size(); ++id) {
    const std::string& text = vocab_.tokens[id];
    if (text.empty()) continue;
    TokenType type = vocab_.types[id];
    if (type == TokenType::Control || type == TokenType::Unknown) control->insert(text, Token(id));
    // SentencePiece matches user-defined pieces itself (after its whitespace escaping).
    if (type == TokenType::UserDefined && vocab_.kind == VocabKind::Bpe)
      user->insert(text, Token(id));
  }
  control_trie_ = control;
  user_trie_ = user;

  eot_ = vocab_.eot;
  for (Token id : {vocab_.eos, vocab_.eot, vocab_.eom}) {
    if (id >= 0) eog_.push_back(id);
  }
  for (Token id : vocab_.extra_end_of_generation) {
    if (id >= 0 && id < vocab_size() && !is_end_of_generation(id)) eog_.push_back(id);
  }
  for (std::string_view text : kEndOfTurnTexts) {
    for (size_t id = 0; id < vocab_.tokens.size(); ++id) {
      if (vocab_.tokens[id] != text || vocab_.types[id] != TokenType::Control) continue;
      if (eot_ < 0 && text != "<|endoftext|>") eot_ = Token(id);
      if (std::find(eog_.begin(), eog_.end(), Token(id)) == eog_.end()) eog_.push_back(Token(id));
    }
  }
}

bool Tokenizer::is_end_of_generation(Token id) const {
  return std::find(eog_.begin(), eog_.end(), id) != eog_.end();
}

bool Tokenizer::is_control(Token id) const {
  return id >= 0 && id < vocab_size() &&
         (vocab_.types[size_t(id)] == TokenType::Control ||
          vocab_.types[size_t(id)] == TokenType::Unknown);
}

void Tokenizer::split_special(std::string_view text, bool parse_special,
                              std::vector<Token>& out) const {
  bool first = true;
  size_t start = 0, pos = 0;
  auto flush_text = [&](size_t end) {
    if (end <= start) return;
    encode_text(text.substr(start, end - start), first, out);
    first = false;
  };
  while (pos < text.size()) {
    std::pair<Token, size_t> hit{-1, 0};
    if (parse_special) hit = control_trie_->longest(text, pos);
    if (!user_trie_->empty()) {
      auto user_hit = user_trie_->longest(text, pos);
      if (user_hit.second > hit.second) hit = user_hit;
    }
    if (hit.first < 0) {
      ++pos;
      continue;
    }
    flush_text(pos);
    out.push_back(hit.first);
    pos += hit.second;
    start = pos;
    first = true;  // llama.cpp: text after a special token starts a new fragment
  }
  flush_text(text.size());
}

std::vector<Token> Tokenizer::encode(std::string_view text, bool add_special,
                                     bool parse_special) const {
  std::vector<Token> out;
  if (add_special && vocab_.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  split_special(text, parse_special, out);
  if (add_special && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
  return out;
}

std::string Tokenizer::token_to_piece(Token id, bool skip_special) const {
  if (id < 0 || id >= vocab_size()) return {};
  if (is_control(id)) return skip_special ? std::string() : vocab_.tokens[size_t(id)];
  return piece_bytes(id);
}

std::string Tokenizer::decode(std::span<const Token> ids, bool skip_special) const {
  std::string out;
  for (Token id : ids) out += token_to_piece(id, skip_special);
  // SentencePiece drops the dummy prefix space it added at the start.
  if (vocab_.kind == VocabKind::Spm && vocab_.add_space_prefix && !out.empty() && out[0] == ' ') {
    out.erase(0, 1);
  }
  // Pieces can end inside a character (byte-level BPE, byte fallback): what comes back is text,
  // as the Hugging Face tokenizers' decode gives it.
  return utf8::to_valid(out);
}

std::string StreamDecoder::push(Token id) {
  pending_ += tokenizer_.token_to_piece(id, skip_special_);
  size_t ready = utf8::complete_prefix(pending_);
  std::string out = utf8::to_valid(pending_.substr(0, ready));
  pending_.erase(0, ready);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::to_valid(pending_);
  pending_.clear();
  return out;
}

}  // namespace longctx::tokenizer
