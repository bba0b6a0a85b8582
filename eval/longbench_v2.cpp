#include "eval/longbench_v2.h"

#include <nlohmann/json.hpp>

#include "eval/text.h"
#include "support/error.h"
#include "support/text_file.h"

namespace longctx::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// prompts/0shot.txt, 0shot_cot.txt, 0shot_cot_ans.txt (no newline at their ends).
constexpr std::string_view kZeroShot =
    "Please read the following text and answer the question below.\n\n<text>\n$DOC$\n</text>\n\n"
    "What is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n(B) $C_B$\n"
    "(C) $C_C$\n(D) $C_D$\n\nFormat your response as follows: \"The correct answer is (insert "
    "answer here)\".";
constexpr std::string_view kCot =
    "Please read the following text and answer the questions below.\n\n<text>\n$DOC$\n</text>\n\n"
    "What is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n(B) $C_B$\n"
    "(C) $C_C$\n(D) $C_D$\n\nLet\u2019s think step by step:";
constexpr std::string_view kCotAnswer =
    "Please read the following text and answer the questions below.\n\nThe text is too long and "
    "omitted here.\n\nWhat is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n"
    "(B) $C_B$\n(C) $C_C$\n(D) $C_D$\n\nLet\u2019s think step by step: $COT$\n\nBased on the "
    "above, what is the single, most likely answer choice? Format your response as follows: "
    "\"The correct answer is (insert answer here)\".";
constexpr int64_t kAnswerTokens = 128, kCotTokens = 1024;  // pred.py's max_new_tokens

// pred.py's chain of str.replace, in its order: a field's text that holds a later placeholder is
// replaced again, as there.
std::string fill(std::string_view tpl, const json& item) {
  std::string out(tpl);
  for (auto [mark, key] : {std::pair{"$DOC$", "context"},
                           {"$Q$", "question"},
                           {"$C_A$", "choice_A"},
                           {"$C_B$", "choice_B"},
                           {"$C_C$", "choice_C"},
                           {"$C_D$", "choice_D"}})
    out = replace_all(std::move(out), mark, strip(item[key].get<std::string>()));
  return out;
}

fs::path data_file(const fs::path& dir) {
  for (const fs::path& p : {dir / "LongBench-v2" / "data.json", dir / "data.json"})
    if (fs::exists(p)) return p;
  throw Error(
      (dir / "LongBench-v2" / "data.json").string() + " (or " + (dir / "data.json").string() +
      "): cannot open (LongBench v2's data.json from "
      "https://huggingface.co/datasets/THUDM/LongBench-v2; point --data-dir at its folder)");
}

// Checks an item's fields; returns an error message or "".
std::string check_item(const json& item) {
  if (!item.is_object()) return "not a JSON object";
  for (const char* k : {"_id", "domain", "sub_domain", "difficulty", "length", "question",
                        "choice_A", "choice_B", "choice_C", "choice_D", "answer", "context"}) {
    if (!item.contains(k)) return std::string("no field '") + k + "'";
    if (!item[k].is_string()) return std::string("field '") + k + "' is not text";
  }
  const std::string d = item["difficulty"], l = item["length"], a = item["answer"];
  if (d != "easy" && d != "hard") return "field 'difficulty' is '" + d + "', not easy or hard";
  if (l != "short" && l != "medium" && l != "long")
    return "field 'length' is '" + l + "', not short, medium or long";
  if (a.size() != 1 || a[0] < 'A' || a[0] > 'D') return "field 'answer' is '" + a + "', not A-D";
  return "";
}

// The prompt truncated to `budget`, in the chat template, lowered until prompt + generation fits
// in `length` (decoding and encoding again can add a token or two at the cut).
std::vector<int32_t> fit(const std::string& prompt, const PromptFormat& format, int64_t budget,
                         int64_t room, bool& truncated) {
  const tokenizer::Tokenizer& tok = format.tokenizer();
  for (int tries = 0;; ++tries) {
    std::string text = longbench_v2_truncate(prompt, tok, budget, truncated);
    std::vector<int32_t> ids = format.encode(text);
    if (room <= 0 || int64_t(ids.size()) <= room || tries == 4) return ids;
    budget -= int64_t(ids.size()) - room;
  }
}

}  // namespace

std::string longbench_v2_truncate(const std::string& prompt, const tokenizer::Tokenizer& tok,
                                  int64_t max_tokens, bool& truncated) {
  std::vector<int32_t> ids = tok.encode(prompt, true, false);
  truncated = max_tokens > 0 && int64_t(ids.size()) > max_tokens;
  if (!truncated) return prompt;
  const size_t head = size_t(max_tokens / 2), tail = size_t(max_tokens - max_tokens / 2);
  std::vector<int32_t> kept(ids.begin(), ids.begin() + ptrdiff_t(head));
  kept.insert(kept.end(), ids.end() - ptrdiff_t(tail), ids.end());
  return tok.decode(kept, true);
}

std::vector<EvalSample> longbench_v2_samples(const LongBenchV2Options& o,
                                             const PromptFormat& format, int64_t length,
                                             int64_t limit) {
  const fs::path path = data_file(o.data_dir);
  json data;
  try {
    data = json::parse(read_text_file(path.string()));
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not JSON (" + e.what() + ")");
  }
  if (!data.is_array() || data.empty())
    throw Error(path.string() + ": not LongBench v2's data (a non-empty list of questions)");
  const int64_t max_new = o.cot ? kCotTokens : kAnswerTokens;
  const int64_t overhead = int64_t(format.encode("").size());  // template and BOS
  const int64_t budget = o.max_input_tokens > 0 ? o.max_input_tokens : length - max_new - overhead;
  if (budget < 64)
    throw Error("LongBench v2 at " + std::to_string(length) +
                " tokens: " + std::to_string(max_new) + " to generate and the template leave " +
                std::to_string(budget) + " for the text; raise --lengths");
  std::vector<EvalSample> out;
  for (size_t i = 0; i < data.size() && (limit <= 0 || int64_t(out.size()) < limit); ++i) {
    const json& item = data[i];
    if (std::string why = check_item(item); !why.empty())
      throw Error(path.string() + ": item " + std::to_string(i) +
                  (item.is_object() && item.contains("_id") && item["_id"].is_string()
                       ? " (_id " + item["_id"].get<std::string>() + ")"
                       : std::string()) +
                  ": " + why);
    EvalSample s;
    s.benchmark = "longbench-v2";
    s.task = o.cot ? "longbench_v2_cot" : "longbench_v2";
    s.length = length;
    s.index = int64_t(i);
    s.max_new_tokens = max_new;
    s.metric = "longbench_v2_choice";
    s.answers = {item["answer"].get<std::string>()};
    bool truncated = false;
    s.tokens = fit(fill(o.cot ? kCot : kZeroShot, item), format, budget,
                   o.max_input_tokens > 0 ? 0 : length - max_new, truncated);
    const std::string difficulty = item["difficulty"], bucket = item["length"];
    s.extra = {{"lb_id", item["_id"]},
               {"domain", item["domain"]},
               {"sub_domain", item["sub_domain"]},
               {"difficulty", difficulty},
               {"length_bucket", bucket},
               {"truncated", truncated},
               {"groups", {"overall", difficulty, bucket}}};
    if (o.cot) {
      s.followup = fill(kCotAnswer, item);
      s.followup_max_new_tokens = kAnswerTokens;
      s.followup_max_input_tokens = budget;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<int32_t> longbench_v2_followup(const EvalSample& s, std::string_view first_answer,
                                           const PromptFormat& format) {
  std::string text = replace_all(s.followup, "$COT$", strip(first_answer));
  bool truncated = false;
  return format.encode(
      longbench_v2_truncate(text, format.tokenizer(), s.followup_max_input_tokens, truncated));
}

}  // namespace longctx::eval
