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
constexpr const char* kDigit = R"(\p{N})";
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
      {"default", {kDefaultPunct, kGpt2, kDefaultNumbers, kDefaultTriples}},
  };
  return kRecipes;
}

}  // namespace

struct PreTokenizer::Stage {
  pcre2_code* code = nullptr;
  pcre2_match_data* match = nullptr;
  ~Stage() {
    pcre2_match_data_free(match);
    pcre2_code_free(code);
  }
};

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
    if (!stage->code) throw Error("internal: pre-tokenizer regex does not compile");
    pcre2_jit_compile(stage->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
    stage->match = pcre2_match_data_create_from_pattern(stage->code, nullptr);
    stages_.push_back(std::move(stage));
  }
}

PreTokenizer::~PreTokenizer() = default;

std::string PreTokenizer::known_names() {
  std::string names;
  for (const Recipe& r : recipes()) names += (names.empty() ? "" : ", ") + std::string(r.name);
  return names;
}

// Matches become chunks and so do the stretches between them ("isolated" splitting), so the
// chunks always cover the text.
void PreTokenizer::split_stage(size_t index, std::string_view text,
                               std::vector<std::string_view>& out) const {
  const Stage& stage = *stages_[index];
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, gap_start = 0;
  while (pos <= text.size()) {
    int rc = pcre2_match(stage.code, subject, text.size(), pos, 0, stage.match, nullptr);
    if (rc < 0) break;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(stage.match);
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

}  // namespace longctx::tokenizer
