// The pre-tokenizer of byte-level BPE vocabularies: a list of regexes (PCRE2, Unicode
// properties, JIT) that cut text into chunks before merges, chosen by tokenizer.ggml.pre.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace longctx::tokenizer {

class PreTokenizer {
 public:
  // Throws longctx::Error for a pre-tokenizer name longctx does not know.
  explicit PreTokenizer(const std::string& name);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Calls `chunk` for each piece of `text`, in order; the pieces cover the text exactly. Safe to
  // call from many threads at once.
  template <typename F>
  void split(std::string_view text, F&& chunk) const {
    for (std::string_view p : pieces(text)) chunk(p);
  }
  std::vector<std::string_view> pieces(std::string_view text) const;

  // Names accepted, for error messages.
  static std::string known_names();

 private:
  struct Stage;
  std::vector<std::unique_ptr<Stage>> stages_;
};

}  // namespace longctx::tokenizer
