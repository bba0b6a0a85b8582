#include "eval/needle.h"

#include <algorithm>
#include <cmath>

#include "eval/rng.h"
#include "eval/ruler_data.h"
#include "support/error.h"

namespace longctx::eval {
namespace {

// needlehaystack's defaults (llm_needle_haystack_tester.py, OpenAI provider's prompt).
constexpr std::string_view kNeedle =
    "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny "
    "day.\n";
constexpr std::string_view kQuestion = "What is the best thing to do in San Francisco?";
constexpr std::string_view kSystem =
    "You are a helpful AI bot that answers questions for a user. Keep your response short and "
    "direct";
constexpr std::string_view kAsk =
    " Don't give information outside the document or repeat your findings";
constexpr int64_t kNiahNewTokens = 64;

// landmark-attention run_test.py.
constexpr std::string_view kPasskeyTask =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there.";
constexpr std::string_view kGarbage =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
constexpr std::string_view kPasskeyQuestion = "What is the pass key? The pass key is";
constexpr int64_t kPasskeyNewTokens = 10;

}  // namespace

EvalSample NeedleGenerator::niah(int64_t length, double depth, int64_t index) {
  const tokenizer::Tokenizer& tok = format_.tokenizer();
  if (haystack_.empty()) {
    std::vector<std::string> words = load_essay_words(data_dir_);
    std::string text;
    for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
    haystack_ = tok.encode(text, false, false);
  }
  auto user_of = [&](const std::string& context) {
    return context + "\n\n" + std::string(kQuestion) + std::string(kAsk);
  };
  std::vector<int32_t> needle = tok.encode(kNeedle, false, false);
  int64_t fixed = int64_t(format_.encode(user_of(""), "", true, kSystem).size());
  int64_t budget = length - fixed - kNiahNewTokens - int64_t(needle.size());
  if (budget < 16) {
    throw Error("niah does not fit in " + std::to_string(length) +
                " tokens: the prompt without a "
                "haystack takes " +
                std::to_string(fixed + int64_t(needle.size())) + " plus " +
                std::to_string(kNiahNewTokens) + " to generate");
  }
  size_t offset = size_t(index) * 997 % haystack_.size();
  while (true) {
    std::vector<int32_t> ctx;
    for (int64_t i = 0; i < budget; ++i)
      ctx.push_back(haystack_[(offset + size_t(i)) % haystack_.size()]);
    size_t at = depth >= 100 ? ctx.size() : size_t(double(ctx.size()) * depth / 100);
    // Back to just after a token that ends a sentence, as the tester does.
    while (at > 0 && depth < 100 && tok.token_to_piece(ctx[at - 1]).find('.') == std::string::npos)
      --at;
    ctx.insert(ctx.begin() + std::ptrdiff_t(at), needle.begin(), needle.end());
    std::string context = tok.decode(ctx, true);
    std::vector<int32_t> tokens = format_.encode(user_of(context), "", true, kSystem);
    int64_t over = int64_t(tokens.size()) + kNiahNewTokens - length;
    if (over > 0) {  // re-tokenising the joined text can merge differently at the seams
      budget -= over + 4;
      continue;
    }
    EvalSample s;
    s.benchmark = "niah";
    s.task = "niah";
    s.length = length;
    s.index = index;
    s.tokens = std::move(tokens);
    s.max_new_tokens = kNiahNewTokens;
    s.metric = "string_match_all";
    s.answers = {"sandwich", "Dolores Park"};
    s.reference_lead = "The best thing to do in San Francisco is";  // the needle, restated
    s.reference = "eat a sandwich and sit in Dolores Park on a sunny day.";
    s.extra["depth"] = depth;
    s.extra["needle_token"] = int64_t(at);
    s.extra["haystack_tokens"] = budget;
    return s;
  }
}

EvalSample NeedleGenerator::passkey(int64_t length, int64_t index) {
  Rng rng(Rng::derive(seed_, "passkey/" + std::to_string(length) + "/" + std::to_string(index)));
  std::string key = std::to_string(rng.range(1, 50000));
  double prefix_share = rng.uniform();
  std::string garbage_inf;
  auto prompt_with = [&](int64_t n_garbage) {
    while (int64_t(garbage_inf.size()) < n_garbage)
      garbage_inf += (garbage_inf.empty() ? "" : " ") + std::string(kGarbage);
    auto n_prefix = int64_t(prefix_share * double(n_garbage));
    std::string info = "The pass key is " + key + ". Remember it. " + key + " is the pass key.";
    return std::string(kPasskeyTask) + "\n" + garbage_inf.substr(0, size_t(n_prefix)) + "\n" +
           info + "\n" + garbage_inf.substr(0, size_t(n_garbage - n_prefix)) + "\n" +
           std::string(kPasskeyQuestion);
  };
  auto fits = [&](int64_t n) {
    return int64_t(format_.encode(prompt_with(n)).size()) + kPasskeyNewTokens <= length;
  };
  if (!fits(0)) {
    throw Error("passkey does not fit in " + std::to_string(length) + " tokens with " +
                std::to_string(kPasskeyNewTokens) + " to generate");
  }
  int64_t lo = 0, hi = length * 8;  // characters; the filler is ~4.5 characters per token
  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (fits(mid))
      lo = mid;
    else
      hi = mid - 1;
  }
  EvalSample s;
  s.benchmark = "passkey";
  s.task = "passkey";
  s.length = length;
  s.index = index;
  s.tokens = format_.encode(prompt_with(lo));
  s.max_new_tokens = kPasskeyNewTokens;
  s.metric = "first_number_match";
  s.answers = {key};
  s.reference_lead = "The pass key is";
  s.extra["depth"] = std::round(prefix_share * 1000) / 10;
  s.extra["garbage_chars"] = lo;
  return s;
}

}  // namespace longctx::eval
