#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenize.h"

#include <pcre2.h>

#include <array>

#include "support/error.h"

namespace longctx::tokenizer {
namespace {

// Regexes from the models' tokenizer.json pre-tokenizers, as llama.cpp lists them per
// tokenizer.ggml.pre (gguf.md 5.3). The (?i:...) contraction groups of the originals are kept:
// PCRE2 reads them the same way as the Rust regex/Oniguruma engines of `tokenizers`.
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kDigit = R"(\p{N})";
// DeepSeek LLM and Coder: a Sequence of Split regexes in their tokenizer.json (new lines alone;
// letters with one leading space; punctuation; CJK runs; numbers), then ByteLevel without its own.
constexpr const char* kNewline = "[\r\n]";
// Non-ASCII code points written as \x{...}, so no editor can normalise them.
constexpr const char* kDeepseekLetters =
    R"(\s?[A-Za-z\x{b5}\x{c0}-\x{d6}\x{d8}-\x{f6}\x{f8}-\x{1ba}\x{1bc}-\x{1bf}\x{1c4}-\x{293}\x{295}-\x{2af}\x{370}-\x{373}\x{376}\x{377}\x{37b}-\x{37d}\x{37f}\x{386}\x{388}-\x{38a}\x{38c}\x{38e}-\x{3a1}\x{3a3}-\x{3f5}\x{3f7}-\x{481}\x{48a}-\x{52f}\x{531}-\x{556}\x{10a0}-\x{10c5}\x{13a0}-\x{13f5}\x{13f8}-\x{13fd}\x{1c90}-\x{1cba}\x{1cbd}-\x{1cbf}\x{1d00}-\x{1d2b}\x{1d6b}-\x{1d77}\x{1d79}-\x{1d9a}\x{1e00}-\x{1f15}\x{1f18}-\x{1f1d}\x{1f20}-\x{1f45}\x{1f48}-\x{1f4d}\x{1f50}-\x{1f57}\x{1f59}\x{1f5b}\x{1f5d}\x{1f5f}-\x{1f7d}\x{1f80}-\x{1fb4}\x{1fb6}-\x{1fbc}\x{1fbe}\x{1fc2}-\x{1fc4}\x{1fc6}-\x{1fcc}\x{1fd0}-\x{1fd3}\x{1fd6}-\x{1fdb}\x{1fe0}-\x{1fec}\x{1ff2}-\x{1ff4}\x{1ff6}-\x{1ffc}\x{2102}\x{2107}\x{210a}-\x{2113}\x{2115}\x{2119}-\x{211d}\x{2124}\x{2126}\x{2128}\x{212a}-\x{212d}\x{212f}-\x{2134}\x{2139}\x{213c}-\x{213f}\x{2145}-\x{2149}\x{214e}\x{2183}\x{2184}\x{2c00}-\x{2c7b}\x{2c7e}-\x{2ce4}\x{2ceb}-\x{2cee}\x{2cf2}\x{2cf3}\x{a640}-\x{a66d}\x{a680}-\x{a69b}\x{a722}-\x{a76f}\x{a771}-\x{a787}\x{a78b}-\x{a78e}\x{ab70}-\x{abbf}\x{fb00}-\x{fb06}\x{fb13}-\x{fb17}\x{ff21}-\x{ff3a}\x{ff41}-\x{ff5a}\x{10400}-\x{1044f}\x{104b0}-\x{104d3}\x{104d8}-\x{104fb}\x{10c80}-\x{10cb2}\x{10cc0}-\x{10cf2}\x{118a0}-\x{118df}\x{1e900}-\x{1e943}]+)";
constexpr const char* kDeepseekPunct =
    R"(\s?[!-/:-~\x{ff01}-\x{ff0f}\x{ff1a}-\x{ff5e}\x{2018}-\x{201f}\x{3000}-\x{3002}]+)";
constexpr const char* kTrailingSpace = R"(\s+$)";
constexpr const char* kCjk = R"([\x{4e00}-\x{9fa5}\x{800}-\x{4e00}\x{ac00}-\x{d7ff}]+)";
constexpr const char* kCoderLetters = R"(\s?\p{L}+)";
constexpr const char* kCoderPunct = R"(\s?\p{P}+)";
// Falcon: punctuation runs, then GPT-2's regex, then digit triples.
constexpr const char* kFalconPunct = R"([\p{P}\$\+<=>\^~\|`]+)";
// llama.cpp's "default" BPE pre-tokenizer: four regexes applied in turn.
constexpr const char* kDefaultPunct = R"([\p{P}\$\+<=>\^~\|]+)";
constexpr const char* kDefaultNumbers = R"(\p{N}+)";
constexpr const char* kDefaultTriples = R"([0-9][0-9][0-9])";

struct Recipe {
  std::string_view name;
  std::vector<const char*> regexes;
};

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> kRecipes = {
      {"gpt-2", {kGpt2}},
      {"gpt2", {kGpt2}},
      {"smollm", {kDigit, kGpt2}},  // Digits(individual) then ByteLevel
      {"starcoder", {kDigit, kGpt2}},
      {"llama-bpe", {kLlama3}},
      {"llama3", {kLlama3}},
      {"llama-v3", {kLlama3}},
      {"qwen2", {kQwen2}},
      {"deepseek-r1-qwen", {kQwen2}},
      {"qwen35", {kQwen35}},
      {"mpt", {kGpt2}},
      {"refact", {kDigit, kGpt2}},
      {"command-r", {kDigit, kGpt2}},
      {"deepseek-llm",
       {kNewline, kDeepseekLetters, kDeepseekPunct, kTrailingSpace, kCjk, kDefaultNumbers}},
      {"deepseek-coder", {kNewline, kCoderLetters, kCoderPunct, kCjk, kDigit}},
      {"falcon", {kFalconPunct, kGpt2, kDefaultTriples}},
      {"default", {kDefaultPunct, kGpt2, kDefaultNumbers, kDefaultTriples}},
  };
  return kRecipes;
}

}  // namespace

// A compiled regex is read only while matching; the match data (the ovector) is written by every
// match, so each call of split() makes its own and threads never share one.
struct PreTokenizer::Stage {
  pcre2_code* code = nullptr;
  ~Stage() { pcre2_code_free(code); }
};

namespace {

struct MatchData {
  pcre2_match_data* data;
  explicit MatchData(const pcre2_code* code)
      : data(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (!data) throw Error("out of memory for the pre-tokenizer's match data");
  }
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

}  // namespace

PreTokenizer::PreTokenizer(const std::string& name) {
  const Recipe* recipe = nullptr;
  for (const Recipe& r : recipes()) {
    if (r.name == name) recipe = &r;
  }
  if (!recipe) {
    throw Error("unknown BPE pre-tokenizer '" + name + "' (known: " + known_names() + ")");
  }
  for (const char* pattern : recipe->regexes) {
    auto stage = std::make_unique<Stage>();
    int err = 0;
    PCRE2_SIZE offset = 0;
    stage->code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
    if (!stage->code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(err, message, sizeof message);
      throw Error("internal: pre-tokenizer '" + name + "': a regex does not compile at offset " +
                  std::to_string(offset) + " (" + reinterpret_cast<const char*>(message) + ")");
    }
    pcre2_jit_compile(stage->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
    stages_.push_back(std::move(stage));
  }
}

PreTokenizer::~PreTokenizer() = default;

std::string PreTokenizer::known_names() {
  std::string names;
  for (const Recipe& r : recipes()) names += (names.empty() ? "" : ", ") + std::string(r.name);
  return names;
}

namespace {

// Matches become chunks and so do the stretches between them ("isolated" splitting), so the
// chunks always cover the text.
void split_stage(const pcre2_code* code, pcre2_match_data* match, std::string_view text,
                 std::vector<std::string_view>& out) {
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, gap_start = 0;
  while (pos <= text.size()) {
    int rc = pcre2_match(code, subject, text.size(), pos, 0, match, nullptr);
    if (rc < 0) break;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
    size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // empty match: step over one character
      pos = begin + 1;
      while (pos < text.size() && (uint8_t(text[pos]) & 0xc0) == 0x80) ++pos;
      continue;
    }
    if (begin > gap_start) out.push_back(text.substr(gap_start, begin - gap_start));
    out.push_back(text.substr(begin, end - begin));
    pos = gap_start = end;
  }
  if (gap_start < text.size()) out.push_back(text.substr(gap_start));
}

}  // namespace

std::vector<std::string_view> PreTokenizer::pieces(std::string_view text) const {
  std::vector<std::string_view> pieces{text}, next;
  for (const auto& stage : stages_) {
    const MatchData match(stage->code);
    next.clear();
    for (std::string_view p : pieces) split_stage(stage->code, match.data, p, next);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace longctx::tokenizer