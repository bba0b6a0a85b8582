#include "eval/samples.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/longbench.h"
#include "eval/longbench_v2.h"
#include "eval/needle.h"
#include "eval/ruler.h"
#include "eval/ruler_jsonl.h"
#include "support/error.h"

namespace longctx::eval {
namespace fs = std::filesystem;

std::vector<std::string> split_list(const std::string& s, const char* flag) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(start, comma - start);
    // "a,,a" is a typo, not a list of two: an empty item or one given twice is refused.
    if (item.empty()) throw Error(std::string(flag) + ": an empty item in '" + s + "'");
    if (std::find(out.begin(), out.end(), item) != out.end())
      throw Error(std::string(flag) + ": '" + item + "' is listed twice");
    out.push_back(item);
    start = comma + 1;
  }
  return out;
}

int64_t parse_length(const std::string& s) {
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    std::string unit = s.substr(used);
    if (unit == "k" || unit == "K")
      v *= 1024;
    else if (!unit.empty())
      throw std::invalid_argument(unit);
    if (v < 1 || v > (1 << 24) || v != std::floor(v)) throw std::out_of_range(s);
    return int64_t(v);
  } catch (const std::exception&) {
    throw Error("--lengths: '" + s + "' is not a length (tokens, or 4k, 8k, ...)");
  }
}

namespace {

std::vector<int64_t> lengths_of(const EvalOptions& o) {
  std::vector<int64_t> lengths;
  for (const auto& l : split_list(o.lengths.empty() ? "4k" : o.lengths, "--lengths"))
    lengths.push_back(parse_length(l));
  if (lengths.empty()) throw Error("--lengths: no length given");
  return lengths;
}

std::vector<std::string> ruler_task_list(const EvalOptions& o) {
  std::vector<std::string> tasks = split_list(o.tasks, "--tasks");
  if (tasks.empty())
    for (const auto& t : eval::ruler_tasks()) tasks.emplace_back(t.name);
  for (const auto& t : tasks) eval::ruler_task(t);  // unknown names fail before any work
  return tasks;
}

// --data: each file's task (its path, or the one --tasks names) and length cell (--lengths, or
// the number in its path), then its samples.
void read_data_files(const EvalOptions& o, const eval::PromptFormat& format, int64_t context,
                     SampleSet& set) {
  std::vector<std::string> named = split_list(o.tasks, "--tasks");
  if (named.size() > 1)
    throw Error(
        "--tasks: with --data, name one task for every file, or none to read each "
        "file's task from its path");
  std::vector<std::string> lens = split_list(o.lengths, "--lengths");
  if (lens.size() > 1)
    throw Error(
        "--lengths: with --data, give one length (the cell its samples are filed under), "
        "or none to read it from each file's path");
  for (const auto& f : split_list(o.data, "--data")) {
    fs::path file(f);
    std::string task = named.empty() ? eval::ruler_task_from_path(file) : named.front();
    if (task.empty())
      throw Error(f +
                  ": cannot tell its RULER task from its path (RULER writes TASK/validation"
                  ".jsonl); name it with --tasks");
    int64_t length = lens.empty() ? eval::ruler_length_from_path(file) : parse_length(lens[0]);
    if (length == 0)
      throw Error(f +
                  ": cannot tell the length it was prepared for from its path (RULER writes "
                  ".../synthetic/LENGTH/data/TASK/validation.jsonl); give it with --lengths");
    // Two files of one task and length would give their samples the same ids: the second's
    // would be taken for done on resume and its scores lost in the cell.
    for (size_t k = 0; k < set.files.size(); ++k) {
      if (set.file_tasks[k] == task && set.file_lengths[k] == length)
        throw Error(f + ": holds " + task + " at " + std::to_string(length) + " tokens, as " +
                    set.files[k].string() + " does; give one file per task and length");
    }
    eval::RulerFileOptions fo;
    fo.length = length;
    fo.limit = o.samples;
    fo.context = context;
    fo.wrap_chat = format.has_chat();
    for (auto& s : eval::read_ruler_file(file, eval::ruler_task(task), format, fo))
      set.samples.push_back(std::move(s));
    if (std::find(set.tasks.begin(), set.tasks.end(), task) == set.tasks.end())
      set.tasks.push_back(task);
    if (std::find(set.lengths.begin(), set.lengths.end(), length) == set.lengths.end())
      set.lengths.push_back(length);
    set.files.push_back(file);
    set.file_tasks.push_back(task);
    set.file_lengths.push_back(length);
  }
  if (set.files.empty()) throw Error("--data: no file given");
}

}  // namespace

SampleSet collect_samples(const EvalOptions& o, const eval::PromptFormat& format,
                          const fs::path& data_dir, int64_t context, int64_t shard_i,
                          int64_t shard_n) {
  SampleSet set;
  if (o.benchmark == "ruler" && !o.data.empty()) {
    read_data_files(o, format, context, set);
    if (shard_n > 1) {
      std::vector<eval::EvalSample> mine;
      for (size_t i = 0; i < set.samples.size(); ++i)
        if (int64_t(i) % shard_n == shard_i - 1) mine.push_back(std::move(set.samples[i]));
      set.samples = std::move(mine);
    }
    return set;
  }
  set.lengths = lengths_of(o);
  int64_t ordinal = 0;
  auto mine = [&] { return ordinal++ % shard_n == shard_i - 1; };
  std::vector<eval::EvalSample>& samples = set.samples;
  if (o.benchmark == "ruler") {
    set.tasks = ruler_task_list(o);
    eval::RulerGenerator gen(format, data_dir, o.seed);
    int64_t n = o.samples > 0 ? o.samples : 10;
    for (const auto& t : set.tasks)
      for (int64_t len : set.lengths)
        for (int64_t i = 0; i < n; ++i)
          if (mine()) samples.push_back(gen.sample(t, len, i));
  } else if (o.benchmark == "longbench") {
    set.tasks = split_list(o.tasks, "--tasks");
    if (set.tasks.empty())
      for (const auto& d : eval::longbench_datasets())
        if (!d.chinese) set.tasks.emplace_back(d.name);
    for (const auto& t : set.tasks) eval::longbench_dataset(t);
    eval::LongBenchOptions lb{data_dir, o.longbench_e};
    for (int64_t len : set.lengths) {
      // LongBench's margin for template and generation: a 4k model reads 3500 prompt tokens.
      int64_t budget = o.max_input_tokens > 0 ? o.max_input_tokens : len - 500;
      if (budget < 64)
        throw Error("--lengths " + std::to_string(len) +
                    ": too short for LongBench's 500-token margin");
      for (const auto& t : set.tasks)
        for (auto& s : eval::longbench_samples(eval::longbench_dataset(t), lb, format, budget, len,
                                               o.samples))
          if (mine()) samples.push_back(std::move(s));
    }
  } else if (o.benchmark == "longbench-v2") {
    if (!o.tasks.empty())
      throw Error(
          "--tasks: LongBench v2 is one set of 503 questions (--samples N takes the first N)");
    set.tasks = {o.cot ? "longbench_v2_cot" : "longbench_v2"};
    eval::LongBenchV2Options v2{data_dir, o.cot, o.max_input_tokens};
    for (int64_t len : set.lengths)
      for (auto& s : eval::longbench_v2_samples(v2, format, len, o.samples))
        if (mine()) samples.push_back(std::move(s));
  } else if (o.benchmark == "niah") {
    eval::NeedleGenerator gen(format, data_dir, o.seed);
    std::vector<double> depths;
    for (const auto& d : split_list(o.depths, "--depths")) {
      char* end = nullptr;
      double v = std::strtod(d.c_str(), &end);
      if (*end || !(v >= 0 && v <= 100))  // NaN fails both comparisons
        throw Error("--depths: '" + d + "' is not a percentage 0-100");
      depths.push_back(v);
    }
    if (depths.empty()) throw Error("--depths: no depth given");
    int64_t n = o.samples > 0 ? o.samples : 1;
    for (int64_t len : set.lengths)
      for (size_t d = 0; d < depths.size(); ++d)
        for (int64_t i = 0; i < n; ++i)
          if (mine()) {
            samples.push_back(gen.niah(len, depths[d], i));
            samples.back().index = int64_t(d) * n + i;  // one id per cell of the grid
          }
  } else {  // passkey
    eval::NeedleGenerator gen(format, data_dir, o.seed);
    int64_t n = o.samples > 0 ? o.samples : 10;
    for (int64_t len : set.lengths)
      for (int64_t i = 0; i < n; ++i)
        if (mine()) samples.push_back(gen.passkey(len, i));
  }
  return set;
}

void check_dump_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::path probe = dir / ".longctx-write-check";
  {
    std::ofstream out(probe);
    if (ec || !out || !(out << "x") || (out.close(), !out))
      throw Error("--dump-samples " + dir.string() + ": cannot write there" +
                  (ec ? " (" + ec.message() + ")" : std::string()));
  }
  fs::remove(probe, ec);
}

void dump_ruler_samples(const EvalOptions& o, const eval::PromptFormat& format,
                        const fs::path& data_dir, const fs::path& dir) {
  std::vector<std::string> tasks = ruler_task_list(o);
  std::vector<int64_t> lengths = lengths_of(o);
  eval::RulerGenerator gen(format, data_dir, o.seed);
  int64_t n = o.samples > 0 ? o.samples : 10;
  // Every file's text first: a task that cannot be generated (its data missing, a length too
  // short) fails before anything is written.
  std::vector<std::pair<fs::path, std::string>> files;
  for (int64_t len : lengths)
    for (const auto& t : tasks) {
      std::string text;
      for (int64_t i = 0; i < n; ++i) {
        eval::TaskText tt;
        eval::EvalSample s = gen.sample(t, len, i, &tt);
        text += eval::ruler_file_line(s, tt, format)
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        text += "\n";
      }
      files.emplace_back(dir / std::to_string(len) / t / "validation.jsonl", std::move(text));
    }
  for (const auto& [file, text] : files) {
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    if (!out || !(out << text) || (out.close(), !out))
      throw Error(file.string() + ": cannot write");
    std::fprintf(stderr, "wrote %s (%lld samples)\n", file.c_str(), (long long)n);
  }
}

}  // namespace longctx::eval
