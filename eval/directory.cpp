#include "eval/directory.h"

#include <omp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/attention/registry.h"
#include "eval/likelihood.h"
#include "eval/plots.h"
#include "eval/results.h"
#include "eval/ruler_data.h"
#include "eval/runner.h"
#include "eval/samples.h"
#include "support/error.h"
#include "support/sha256.h"
#include "support/text_file.h"

namespace longctx::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::pair<int64_t, int64_t> parse_shard(const std::string& s) {
  if (s.empty()) return {1, 1};
  size_t slash = s.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument(s);
    int64_t i = std::stoll(s.substr(0, slash)), n = std::stoll(s.substr(slash + 1));
    if (n < 1 || i < 1 || i > n) throw std::out_of_range(s);
    return {i, n};
  } catch (const std::exception&) {
    throw Error("--shard " + s + ": expected i/n with 1 <= i <= n, e.g. 2/8");
  }
}

std::string file_sha256(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    h.update(buf.data(), size_t(in.gcount()));
  }
  return h.finish_hex();
}

// A model file's checksum, or a folder's (its files in name order).
std::string model_sha256(const std::string& path) {
  if (!fs::is_directory(path)) return file_sha256(path);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(path))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  Sha256 h;
  for (const auto& f : files) {
    std::string one = f.filename().string() + " " + file_sha256(f) + "\n";
    h.update(one.data(), one.size());
  }
  return h.finish_hex();
}

json data_files(const EvalOptions& o, const fs::path& dir, const std::vector<std::string>& tasks) {
  json files = json::object();
  auto add = [&](const fs::path& p) {
    if (fs::is_regular_file(p)) files[fs::relative(p, dir).string()] = file_sha256(p);
  };
  if (!o.data.empty()) {  // RULER's prepared samples: the files themselves
    for (const auto& f : split_list(o.data, "--data")) files[f] = file_sha256(f);
  } else if (o.benchmark == "ruler" || o.benchmark == "niah") {
    if (o.benchmark == "ruler")
      for (const char* f : {"nounlist.txt", "adjectivelist.txt", "verblist.txt"})
        add(dir / "wonderwords" / f);
    add(dir / "PaulGrahamEssays.json");
    if (fs::is_directory(dir / "PaulGrahamEssays"))
      for (const auto& e : fs::directory_iterator(dir / "PaulGrahamEssays")) add(e.path());
    if (std::count(tasks.begin(), tasks.end(), "qa_1")) add(dir / "dev-v2.0.json");
    if (std::count(tasks.begin(), tasks.end(), "qa_2")) add(dir / "hotpot_dev_distractor_v1.json");
  } else if (o.benchmark == "longbench-v2") {
    add(dir / "LongBench-v2" / "data.json");
    if (files.empty()) add(dir / "data.json");
  } else if (o.benchmark == "longbench") {
    for (const auto& t : tasks) {
      std::string f = t + (o.longbench_e ? "_e" : "") + ".jsonl";
      add(dir / f);
      add(dir / "data" / f);
    }
  }
  return files;
}

// JSON text that never throws: a string that is not UTF-8 (a mode or path given in another
// encoding) is written with U+FFFD where its bytes do not decode.
std::string dump_json(const json& j, int indent = -1) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path.string() + ": cannot write");
  out << text;
}

json read_manifest(const fs::path& path) {
  try {
    json m = read_json_file(path.string());
    if (!m.is_object()) throw Error("not an object");
    for (const char* k : {"benchmark", "model"})
      if (!m.contains(k) || !m[k].is_string())
        throw Error(std::string("no text field '") + k + "'");
    return m;
  } catch (const std::exception& e) {
    throw Error(path.string() + ": not an eval manifest (" + e.what() + ")");
  }
}

}  // namespace

// scores.json, the plots and the table, from every prediction file in `dir`.
void score_directory(const fs::path& dir, bool quiet) {
  std::vector<json> preds = eval::read_predictions(eval::prediction_files(dir));
  if (preds.empty()) throw Error(dir.string() + ": no predictions to score");
  json scores = eval::score_predictions(preds);
  std::string title = "longctx eval";
  if (fs::exists(dir / "manifest.json")) {
    json m = read_manifest(dir / "manifest.json");
    title += " " + m.value("benchmark", std::string()) + ", " +
             fs::path(m.value("model", std::string())).filename().string();
    scores["manifest"] = m;
    if (m.contains("modes")) scores["modes"] = m["modes"];
  }
  write_text(dir / "scores.json", dump_json(scores, 1) + "\n");
  write_text(dir / "scores.svg", eval::plot_scores_svg(scores, title));
  std::string niah = eval::plot_niah_svg(preds, title);
  if (!niah.empty()) write_text(dir / "niah.svg", niah);
  if (!quiet) std::printf("%s", eval::format_table(scores).c_str());
  std::fprintf(stderr, "wrote %s, %s%s\n", (dir / "scores.json").c_str(),
               (dir / "scores.svg").c_str(),
               niah.empty() ? "" : (", " + (dir / "niah.svg").string()).c_str());
}

int run_benchmark(const EvalOptions& o) {
  // A per-layer preset is one more mode, named by its path (--attn may list presets too).
  std::vector<std::string> modes = o.model.attn_config.empty()
                                       ? split_policy_list(o.model.attn)
                                       : std::vector<std::string>{o.model.attn_config};
  if (modes.empty()) throw Error("--attn: no attention mode given");
  auto [shard_i, shard_n] = parse_shard(o.shard);
  fs::path data_dir = o.data_dir.empty() ? eval::default_data_dir() : fs::path(o.data_dir);
  const bool from_data = !o.data.empty();
  if (from_data && !o.dump_samples.empty())
    throw Error("--data and --dump-samples: one reads RULER's samples, the other writes ours");
  if (!o.dump_samples.empty()) check_dump_dir(o.dump_samples);  // before any work

  const std::string& model_path = o.model.model;
  set_threads(o.model.threads);
  std::unique_ptr<Model> model = load_model(model_path);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  // RULER's prepared samples carry the template chosen at preparation: by default they are read
  // as prepared; a named template (or "model") wraps their input as a user turn.
  std::optional<tokenizer::ChatTemplate> chat;
  if (o.chat_template != "none" && !(from_data && o.chat_template.empty())) {
    chat = tokenizer::ChatTemplate::choose(o.chat_template == "model" ? "" : o.chat_template,
                                           tok->vocab());
    chat->set_thinking(!o.no_think);
  }
  eval::PromptFormat format(*tok, chat);
  if (!o.dump_samples.empty()) {
    dump_ruler_samples(o, format, data_dir, o.dump_samples);
    return 0;
  }

  // The samples, in one deterministic order; a shard keeps every n-th.
  const int64_t context = o.model.n_ctx > 0 ? o.model.n_ctx : model->config.n_ctx_train;
  SampleSet set = collect_samples(o, format, data_dir, context, shard_i, shard_n);
  const std::vector<std::string>& tasks = set.tasks;
  const std::vector<int64_t>& lengths = set.lengths;
  std::vector<eval::EvalSample>& samples = set.samples;

  fs::path out_dir = o.out.empty() ? fs::path("eval-out") /
                                         (o.benchmark + "-" + fs::path(model_path).stem().string())
                                   : fs::path(o.out);
  fs::create_directories(out_dir);
  // Teacher-forced answers cost a few decode steps where the answers are short; LongBench's are
  // free text whose one reference is a poor target, so it generates only unless asked.
  const EvalMetric metric = !o.metric.empty()                      ? parse_metric(o.metric)
                            : o.benchmark.starts_with("longbench") ? EvalMetric::Generate
                                                                   : EvalMetric::Both;
  json manifest = {
      {"benchmark", o.benchmark + (o.longbench_e ? "-e" : "")},
      {"model", model_path},
      {"model_sha256", model_sha256(model_path)},
      {"architecture", model->config.arch->name},
      {"tokenizer",
       {{"kind", tok->vocab().kind == tokenizer::VocabKind::Bpe ? "bpe" : "spm"},
        {"pre", tok->vocab().pre},
        {"vocab_size", tok->vocab_size()}}},
      // --no-think changes Qwen3's prompts: a run with it is another run.
      {"chat_template", from_data && !chat ? std::string("as prepared (RULER's template type)")
                                           : format.name() + (o.no_think ? ", --no-think" : "")},
      {"answer_prefix", o.benchmark != "ruler" ? "none"
                        : chat ? "assistant prefill after the chat template's generation prompt"
                               : "after the prompt text"},
      {"samples_from", from_data ? "RULER JSONL (--data)" : "longctx's generator"},
      {"truncation",
       o.benchmark == "longbench"
           ? (o.max_input_tokens > 0 ? "middle, " + std::to_string(o.max_input_tokens) + " tokens"
                                     : "middle, length - 500 tokens")
       : o.benchmark == "longbench-v2"
           ? (o.max_input_tokens > 0
                  ? "middle, " + std::to_string(o.max_input_tokens) + " tokens"
                  : std::string("middle, length - generation - chat template tokens"))
           : (from_data ? "none: prepared samples are read whole"
                        : "none: prompts are generated to fit")},
      {"decoding", "greedy"},
      {"metric", metric_name(metric)},
      {"seed", o.seed},
      {"tasks", tasks},
      {"lengths", lengths},
      {"modes", modes},
      {"samples_per_cell", o.samples},
      {"kv_type", o.model.kv_type},
      {"data_dir", data_dir.string()},
      {"data_files", data_files(o, data_dir, tasks)},
  };
  if (o.benchmark == "niah") manifest["depths"] = split_list(o.depths, "--depths");
  fs::path manifest_path = out_dir / "manifest.json";
  if (fs::exists(manifest_path)) {
    json old = read_manifest(manifest_path);
    for (const auto& [k, v] : manifest.items())
      // A run from before --metric existed generated only.
      if (old.value(k, k == "metric" ? json("generate") : json()) != v)
        throw Error(out_dir.string() + " holds a run with another '" + k + "' (" +
                    old.value(k, json()).dump() +
                    "); resume it with the same settings or choose another -o");
  } else {
    write_text(manifest_path, dump_json(manifest, 1) + "\n");
  }

  std::string pred_name = shard_n == 1 ? "predictions.jsonl"
                                       : "predictions.shard-" + std::to_string(shard_i) + "-of-" +
                                             std::to_string(shard_n) + ".jsonl";
  fs::path pred_path = out_dir / pred_name;
  std::set<std::string> done;
  if (fs::exists(pred_path)) {
    if (size_t torn = eval::drop_torn_last_line(pred_path))
      spdlog::warn(
          "{}: dropped a partial last line ({} bytes) left by an interrupted run; its "
          "row is redone",
          pred_path.string(), torn);
  }
  if (fs::exists(pred_path))
    for (const auto& p : eval::read_predictions({pred_path})) done.insert(eval::prediction_key(p));

  ModelOptions model_options = o.model;
  model_options.attention_recall = o.attention_recall;
  EvalRunner runner(*model, *tok, model_options, modes, samples, !o.no_shared_prefill, &format,
                    metric);
  std::fprintf(stderr, "longctx eval %s: %zu samples x %zu modes%s, %zu done already; writing %s\n",
               o.benchmark.c_str(), samples.size(), modes.size(),
               shard_n > 1 ? (" (shard " + o.shard + ")").c_str() : "", done.size(),
               pred_path.c_str());
  std::ofstream out(pred_path, std::ios::app);
  if (!out) throw Error(pred_path.string() + ": cannot write");
  runner.run(done, [&](const json& line) {
    out << dump_json(line) << "\n";
    out.flush();
  });
  out.close();
  finish_trace(o.model);
  score_directory(out_dir);
  return 0;
}

int merge_directories(const std::vector<std::string>& dirs, const std::string& out) {
  if (dirs.empty()) throw Error("eval merge: give the shard directories");
  fs::path out_dir = out.empty() ? fs::path(dirs.front()) : fs::path(out);
  json manifest;
  std::vector<fs::path> files;
  for (const auto& d : dirs) {
    fs::path m = fs::path(d) / "manifest.json";
    if (!fs::exists(m)) throw Error(m.string() + ": cannot open (not an eval directory?)");
    json this_one = read_manifest(m);
    if (manifest.is_null()) manifest = this_one;
    for (const char* k : {"benchmark", "model_sha256", "chat_template", "seed", "tasks", "lengths",
                          "modes", "samples_per_cell", "kv_type", "data_files"})
      if (manifest.value(k, json()) != this_one.value(k, json()))
        throw Error(d + ": its run differs in '" + std::string(k) + "' from " + dirs.front() +
                    "'s; not merging");
    for (auto& f : eval::prediction_files(d)) files.push_back(f);
  }
  std::vector<json> preds = eval::read_predictions(files);
  fs::create_directories(out_dir);
  fs::path merged = out_dir / "predictions.jsonl";
  std::string text;
  for (const auto& p : preds) text += dump_json(p) + "\n";
  write_text(merged.string() + ".tmp", text);
  for (const auto& f : eval::prediction_files(out_dir))
    fs::remove(f);  // now inside the merged file
  fs::rename(merged.string() + ".tmp", merged);
  write_text(out_dir / "manifest.json", dump_json(manifest, 1) + "\n");
  std::fprintf(stderr, "merged %zu predictions from %zu files into %s\n", preds.size(),
               files.size(), merged.c_str());
  score_directory(out_dir);
  return 0;
}

}  // namespace longctx::eval
