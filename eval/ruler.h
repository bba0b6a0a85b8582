// RULER's 13 synthetic tasks (NVIDIA/RULER scripts/synthetic.yaml, data/synthetic/*.py), generated
// here: seeded, deterministic, and fitted to the target length in the evaluated model's own tokens
// (chat template, answer prefix and generation budget included: prompt + generation <= length).
// What differs from the Python generators, and why, is in docs/eval.md.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eval/ruler_data.h"
#include "eval/sample.h"

namespace longctx::eval {

struct RulerTask {
  std::string_view name;
  std::string_view family;  // niah, vt, cwe, fwe, qa
  int64_t max_new_tokens;   // constants.py tokens_to_generate
  std::string_view metric;  // string_match_all / string_match_part
};
const std::vector<RulerTask>& ruler_tasks();
const RulerTask& ruler_task(std::string_view name);  // throws for an unknown name

// A task's text before the prompt format: the user turn and the answer prefix, and the answers.
struct TaskText {
  std::string body;
  std::string answer_prefix;
  std::vector<std::string> answers;
  nlohmann::json extra = nlohmann::json::object();  // needle depths, haystack size
};

class RulerGenerator {
 public:
  RulerGenerator(const PromptFormat& format, std::filesystem::path data_dir, uint64_t seed);
  ~RulerGenerator();

  // Sample `index` of `task` at `length` tokens. Throws longctx::Error when the length cannot hold
  // the task (the prompt's fixed part and the generation budget alone exceed it).
  // `text_out`, when given, receives the task text the sample's tokens were made from.
  EvalSample sample(std::string_view task, int64_t length, int64_t index,
                    TaskText* text_out = nullptr);

  // The task text with `units` haystack units (lines, words, documents) drawn from `seed`; qa
  // tasks ask question `index` of their file.
  TaskText text(std::string_view task, int64_t units, int64_t length, uint64_t seed,
                int64_t index = 0);

 private:
  struct Data;
  int64_t fit_units(const RulerTask& task, int64_t length);
  int64_t incremental(const RulerTask& task, int64_t length) const;
  int64_t count_tokens(const TaskText& t) const;

  const PromptFormat& format_;
  std::filesystem::path data_dir_;
  uint64_t seed_;
  std::unique_ptr<Data> data_;
  std::map<std::pair<std::string, int64_t>, int64_t> fitted_;
};

}  // namespace longctx::eval
