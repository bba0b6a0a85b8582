// LongBench v1 and LongBench-E (THUDM/LongBench): the official JSONL files, per-dataset prompt
// templates and generation lengths (config/dataset2prompt.json, dataset2maxlen.json), middle
// truncation in model tokens, the datasets that skip the chat template, and the scoring rules of
// eval.py (first-line scoring for few-shot sets, per-dataset then per-category means).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "eval/sample.h"

namespace longctx::eval {

struct LongBenchDataset {
  std::string_view name, category, metric;
  int64_t max_new_tokens;
  bool chinese;     // scored with jieba in the official code: not run here
  bool skip_chat;   // pred.py: "chat models are better off without build prompts on these tasks"
  bool first_line;  // eval.py scores only the first line of the prediction
  std::string_view prompt;
};
const std::vector<LongBenchDataset>& longbench_datasets();
const LongBenchDataset& longbench_dataset(std::string_view name);  // throws for an unknown name

struct LongBenchOptions {
  std::filesystem::path data_dir;  // holds {name}.jsonl (or data/{name}.jsonl) from data.zip
  bool e = false;                  // LongBench-E: {name}_e.jsonl, scores by length bucket
};

// Every sample of one dataset, its prompt middle-truncated to `max_input_tokens` (0: none) as
// pred.py does (first and last half of the tokens, each decoded, joined), then wrapped in the chat
// template unless the dataset skips it. `length` is the evaluation length the sample is filed
// under. Throws longctx::Error naming the file when it is missing or malformed.
std::vector<EvalSample> longbench_samples(const LongBenchDataset& ds, const LongBenchOptions& o,
                                          const PromptFormat& format, int64_t max_input_tokens,
                                          int64_t length, int64_t limit);

// LongBench-E's bucket of a sample by its `length` field: "0-4k", "4-8k", "8k+".
std::string longbench_e_bucket(int64_t length_words);

}  // namespace longctx::eval
