#include "tokenizer/bpe.h"

#include <array>
#include <queue>
#include <unordered_map>

#include "support/error.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/utf8.h"

namespace longctx::tokenizer {
namespace {

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100.. in order.
std::array<std::string, 256> byte_to_unicode() {
  std::array<std::string, 256> table;
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
    utf8::append_codepoint(table[size_t(b)], printable ? uint32_t(b) : next++);
  }
  return table;
}

struct PairHash {
  size_t operator()(uint64_t key) const {
    return std::hash<uint64_t>()(key * 0x9e3779b97f4a7c15ull);
  }
};

uint64_t pair_key(Token a, Token b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)), pre_(vocab_.pre) {
    auto table = byte_to_unicode();
    std::unordered_map<std::string, Token> unicode_to_byte;
    for (int b = 0; b < 256; ++b) unicode_to_byte[table[size_t(b)]] = Token(b);
    for (size_t id = 0; id < vocab_.tokens.size(); ++id) ids_.emplace(vocab_.tokens[id], Token(id));
    for (int b = 0; b < 256; ++b) {
      auto it = ids_.find(table[size_t(b)]);
      byte_token_[size_t(b)] = it == ids_.end() ? -1 : it->second;
    }
    for (size_t rank = 0; rank < vocab_.merges.size(); ++rank) {
      const std::string& m = vocab_.merges[rank];
      size_t space = m.find(' ', 1);  // split at the first space after the first character
      if (space == std::string::npos)
        throw Error("BPE merge " + std::to_string(rank) + " has no space");
      auto left = ids_.find(m.substr(0, space));
      auto right = ids_.find(m.substr(space + 1));
      auto merged = ids_.find(m.substr(0, space) + m.substr(space + 1));
      if (left == ids_.end() || right == ids_.end() || merged == ids_.end()) continue;
      merges_.emplace(pair_key(left->second, right->second), Merge{int32_t(rank), merged->second});
    }
    // Decoding: each token's characters back to bytes.
    pieces_.resize(vocab_.tokens.size());
    for (size_t id = 0; id < vocab_.tokens.size(); ++id) {
      const std::string& t = vocab_.tokens[id];
      std::string bytes;
      bool mapped = true;
      for (size_t i = 0; i < t.size();) {
        size_t len = utf8::sequence_length(uint8_t(t[i]));
        auto it = unicode_to_byte.find(t.substr(i, len));
        if (it == unicode_to_byte.end()) {
          mapped = false;
          break;
        }
        bytes += char(it->second);
        i += len;
      }
      pieces_[id] = mapped ? bytes : t;  // e.g. added tokens written as plain text
    }
    ignore_merges_ =
        vocab_.pre == "llama-bpe" || vocab_.pre == "llama3" || vocab_.pre == "llama-v3";
  }

 protected:
  // Safe to call from many threads at once: the merge state lives in the call (Scratch), the
  // tables are read only.
  void encode_text(std::string_view text, bool, std::vector<Token>& out) const override {
    Scratch scratch;
    pre_.split(text, [&](std::string_view chunk) { encode_chunk(chunk, scratch, out); });
  }

  std::string piece_bytes(Token id) const override { return pieces_[size_t(id)]; }

 private:
  struct Merge {
    int32_t rank;
    Token result;
  };
  // One encode call's working state, reused across its chunks: each chunk's symbols and their
  // links (symbols_[i] merged away is -2).
  struct Scratch {
    std::vector<Token> symbols_;
    std::vector<int32_t> prev_, next_;
  };

  void encode_chunk(std::string_view chunk, Scratch& scratch, std::vector<Token>& out) const {
    auto& [symbols_, prev_, next_] = scratch;
    if (ignore_merges_) {  // Llama 3: a chunk that is a whole token is emitted as is
      std::string mapped;
      for (uint8_t c : chunk) mapped += byte_table_[c];
      if (auto it = ids_.find(mapped); it != ids_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    // Symbols start as single bytes; merge the lowest-ranked adjacent pair until none is left.
    // A heap of candidate pairs keyed (rank, position) gives leftmost-first ties in O(n log n).
    size_t n = chunk.size();
    symbols_.assign(n, Token(-1));
    prev_.resize(n);
    next_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      symbols_[i] = byte_token_[uint8_t(chunk[i])];
      prev_[i] = int32_t(i) - 1;
      next_[i] = i + 1 < n ? int32_t(i + 1) : -1;
    }
    using Candidate = std::tuple<int32_t, int32_t, Token, Token>;  // rank, left pos, left, right
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto consider = [&](int32_t left) {
      if (left < 0) return;
      int32_t right = next_[size_t(left)];
      if (right < 0) return;
      auto it = merges_.find(pair_key(symbols_[size_t(left)], symbols_[size_t(right)]));
      if (it != merges_.end()) {
        heap.emplace(it->second.rank, left, symbols_[size_t(left)], symbols_[size_t(right)]);
      }
    };
    for (size_t i = 0; i + 1 < n; ++i) consider(int32_t(i));
    while (!heap.empty()) {
      auto [rank, left, left_tok, right_tok] = heap.top();
      heap.pop();
      int32_t right = next_[size_t(left)];
      // Stale when either side has changed since the pair was queued.
      if (symbols_[size_t(left)] != left_tok || right < 0 || symbols_[size_t(right)] != right_tok) {
        continue;
      }
      symbols_[size_t(left)] = merges_.at(pair_key(left_tok, right_tok)).result;
      symbols_[size_t(right)] = Token(-2);  // removed
      next_[size_t(left)] = next_[size_t(right)];
      if (next_[size_t(right)] >= 0) prev_[size_t(next_[size_t(right)])] = left;
      consider(prev_[size_t(left)]);
      consider(left);
    }
    for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = next_[size_t(i)]) {
      Token t = symbols_[size_t(i)];
      if (t >= 0) {
        out.push_back(t);
      } else if (vocab_.unk >= 0) {
        out.push_back(vocab_.unk);  // a byte missing from the vocabulary
      }
    }
  }

  PreTokenizer pre_;
  std::unordered_map<std::string, Token> ids_;
  std::unordered_map<uint64_t, Merge, PairHash> merges_;
  std::array<Token, 256> byte_token_{};
  std::array<std::string, 256> byte_table_ = byte_to_unicode();
  std::vector<std::string> pieces_;
  bool ignore_merges_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab) {
  return std::make_unique<BpeTokenizer>(std::move(vocab));
}

}  // namespace longctx::tokenizer
