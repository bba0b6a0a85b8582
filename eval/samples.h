// The samples of a `longctx eval` run: the options that choose them, the generators and files
// they come from (RULER, RULER's own JSONL via --data, LongBench v1 and v2, needle, passkey), in
// one deterministic order of which a shard keeps every n-th; and RULER's format out
// (--dump-samples).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "engine/session_setup.h"
#include "eval/sample.h"

namespace longctx::eval {

struct EvalOptions {
  ModelOptions model;
  std::string benchmark;
  std::string tasks, lengths, depths = "0,25,50,75,100";  // lengths "": 4k (--data: from path)
  int64_t samples = 0;                                    // 0: the benchmark's default
  std::string data_dir, out, shard, chat_template;
  std::string data;          // ruler --data FILE.jsonl[,FILE...]: RULER's prepared samples
  std::string dump_samples;  // ruler --dump-samples DIR: write the generated samples, run nothing
  bool no_think = false;
  bool no_shared_prefill = false;
  bool attention_recall = false;  // --attention-recall
  std::string metric;  // generate | likelihood | both; "": both where answers are short (RULER,
                       // needle, passkey), generate for LongBench
  uint64_t seed = 42;
  bool longbench_e = false;
  bool cot = false;  // longbench-v2 --cot
  int64_t max_input_tokens = 0;
};

// A comma-separated flag value; an empty item or one listed twice is an error naming `flag`.
std::vector<std::string> split_list(const std::string& s, const char* flag);
// "4k" -> 4096, "1500" -> 1500; anything else is an error naming --lengths.
int64_t parse_length(const std::string& s);

// What a run evaluates: its samples (this shard's), and the tasks and lengths they cover.
struct SampleSet {
  std::vector<eval::EvalSample> samples;
  std::vector<std::string> tasks;
  std::vector<int64_t> lengths;
  std::vector<std::filesystem::path> files;  // --data: the files read
  std::vector<std::string> file_tasks;       // and each one's task
  std::vector<int64_t> file_lengths;         // and length cell
};
SampleSet collect_samples(const EvalOptions& o, const eval::PromptFormat& format,
                          const std::filesystem::path& data_dir, int64_t context, int64_t shard_i,
                          int64_t shard_n);

// --dump-samples: refuses a directory it cannot write to (call before loading the model), then
// writes DIR/LENGTH/TASK/validation.jsonl for every task and length in RULER's format.
void check_dump_dir(const std::filesystem::path& dir);
void dump_ruler_samples(const EvalOptions& o, const eval::PromptFormat& format,
                        const std::filesystem::path& data_dir, const std::filesystem::path& dir);

}  // namespace longctx::eval
