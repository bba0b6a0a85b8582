// LongBench v2 (THUDM/LongBench, pred.py and result.py at the repository root): 503 four-choice
// questions over contexts of 8k to 2M words, read from the dataset's data.json. Prompts are the
// official templates (prompts/0shot.txt, 0shot_cot.txt and, for the chain of thought's second
// turn, 0shot_cot_ans.txt) filled by the same chain of replacements, middle-truncated in the
// model's tokens as query_llm does (first and last half of the ids, decoded together), and sent
// as one user turn. The answer is the letter after "The correct answer is"; accuracy is reported
// overall, by difficulty (easy, hard) and by length (short, medium, long), as result.py groups it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "eval/sample.h"

namespace longctx::eval {

struct LongBenchV2Options {
  std::filesystem::path data_dir;  // holds LongBench-v2/data.json or data.json
  bool cot = false;                // chain of thought: two turns, 1024 then 128 new tokens
  int64_t max_input_tokens = 0;    // truncation budget (0: what fits in the length)
};

// The samples in the file's order (the first `limit`, 0: all), filed under `length`. The default
// budget leaves the generation and the chat template room: prompt + generation <= length. Throws
// longctx::Error naming the file for a missing or malformed file and the item (index and _id)
// for an item without the dataset's fields.
std::vector<EvalSample> longbench_v2_samples(const LongBenchV2Options& o,
                                             const PromptFormat& format, int64_t length,
                                             int64_t limit);

// The second turn of a chain-of-thought sample: its followup text with the first answer (stripped)
// at $COT$, truncated to its budget, in the chat template.
std::vector<int32_t> longbench_v2_followup(const EvalSample& s, std::string_view first_answer,
                                           const PromptFormat& format);

// query_llm's truncation: a prompt over `max_tokens` ids (BOS included, as the tokenizer encodes
// it) keeps the first floor(max_tokens / 2) and the last ceil(max_tokens / 2) ids (Python's
// ids[:m//2] + ids[-m//2:]), decoded together without the special tokens.
std::string longbench_v2_truncate(const std::string& prompt, const tokenizer::Tokenizer& tok,
                                  int64_t max_tokens, bool& truncated);

}  // namespace longctx::eval
