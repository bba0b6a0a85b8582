#include "eval/results.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "eval/intervals.h"
#include "eval/likelihood.h"
#include "eval/metrics.h"
#include "eval/rng.h"
#include "eval/text.h"
#include "support/error.h"
#include "support/text_file.h"

namespace longctx::eval {
namespace fs = std::filesystem;
namespace {

// Python's round(x, 2): the double's exact value rounded to two decimals, ties to even (17/32 of
// 100 = 53.125 gives 53.12). glibc's printf rounds the exact binary value the same way.
double round2(double x) {
  if (!std::isfinite(x)) return x;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return std::strtod(buf, nullptr);
}

// A task's score as its official script computes it, in the same order of operations: RULER
// (and the needle tasks that use its metric) `sum / n * 100`, LongBench `100 * sum / n`.
double task_score(const std::string& benchmark, double sum, int64_t n) {
  if (benchmark == "longbench-v2") {  // result.py: round(100 * acc / n, 1)
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.1f", 100 * sum / double(n));
    return std::strtod(buf, nullptr);
  }
  if (benchmark.starts_with("longbench")) return round2(100 * sum / double(n));
  return round2(sum / double(n) * 100);
}

// LongBench v1's average is over its categories' means (eval.py's "Avg"); RULER's over tasks.
bool by_category(const std::string& benchmark) {
  return benchmark == "longbench" || benchmark == "longbench-e";
}

// LongBench v2's rows split the same predictions by difficulty and length: its average is the
// overall row alone.
bool in_average(const std::string& benchmark, const std::string& task) {
  return benchmark != "longbench-v2" || task == "overall";
}

std::vector<std::string> strings(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& s : j) out.push_back(s.get<std::string>());
  return out;
}

}  // namespace

std::vector<std::string> modes_in_order(const nlohmann::json& rows, const nlohmann::json& order) {
  std::vector<std::string> modes;
  if (order.is_array())
    for (const auto& m : order)
      if (m.is_string()) modes.push_back(m);
  for (const auto& r : rows) {
    std::string m = r["mode"];
    if (std::find(modes.begin(), modes.end(), m) == modes.end()) modes.push_back(m);
  }
  auto dense = std::find(modes.begin(), modes.end(), "dense");
  if (dense != modes.end()) std::rotate(modes.begin(), dense, dense + 1);
  return modes;
}

std::vector<fs::path> prediction_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": not a directory");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name == "predictions.jsonl" ||
        (name.starts_with("predictions.shard-") && name.ends_with(".jsonl")))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string prediction_key(const nlohmann::json& p) {
  return p.at("id").get<std::string>() + " " + p.at("mode").get<std::string>();
}

size_t drop_torn_last_line(const fs::path& file) {
  require_regular_file(file.string());  // a FIFO would block the reads below
  const auto size = fs::file_size(file);
  if (size == 0) return 0;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open");
  // Scan back from the end for the last newline, a block at a time.
  constexpr std::streamoff kBlock = 1 << 16;
  std::streamoff end = std::streamoff(size), keep = 0;
  std::string buf;
  bool ends_with_newline = false;
  while (end > 0) {
    std::streamoff begin = std::max<std::streamoff>(0, end - kBlock);
    buf.resize(size_t(end - begin));
    in.seekg(begin);
    in.read(buf.data(), std::streamsize(buf.size()));
    if (!in) throw Error(file.string() + ": cannot read");
    if (end == std::streamoff(size) && buf.back() == '\n') {
      ends_with_newline = true;
      break;
    }
    size_t nl = buf.rfind('\n');
    if (nl != std::string::npos) {
      keep = begin + std::streamoff(nl) + 1;
      break;
    }
    end = begin;
  }
  in.close();
  if (ends_with_newline) return 0;
  fs::resize_file(file, uintmax_t(keep));
  return size_t(std::streamoff(size) - keep);
}

std::vector<nlohmann::json> read_predictions(const std::vector<fs::path>& files) {
  std::vector<nlohmann::json> out;
  std::set<std::string> seen;
  for (const auto& f : files) {
    require_regular_file(f.string());  // a FIFO (or a directory) named like one would block
    std::ifstream in(f);
    if (!in) throw Error(f.string() + ": cannot open");
    std::string line;
    int64_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      nlohmann::json p;
      try {
        p = nlohmann::json::parse(line);
        if (p.contains("generated") && !p["generated"].is_boolean())
          throw Error("'generated' is not true/false");
        const bool generated = p.value("generated", true);  // false: a likelihood-only line
        for (const char* k : {"id", "mode", "benchmark", "task", "pred", "metric"})
          if (!(k == std::string_view("pred") && !generated) &&
              (!p.contains(k) || !p[k].is_string()))
            throw Error(std::string("no text field '") + k + "'");
        check_likelihood_fields(p);
        if (!p.contains("answers") || !p["answers"].is_array()) throw Error("no 'answers' list");
        for (const auto& a : p["answers"])
          if (!a.is_string()) throw Error("an answer is not text");
        for (const char* k : {"length", "prompt_tokens", "decode_steps"})
          if (p.contains(k) && !p[k].is_number_integer())
            throw Error(std::string("'") + k + "' is not an integer");
        if (p.contains("first_line") && !p["first_line"].is_boolean())
          throw Error("'first_line' is not true/false");
        if (p.contains("all_classes") && !p["all_classes"].is_null()) {
          if (!p["all_classes"].is_array()) throw Error("'all_classes' is not a list");
          for (const auto& c : p["all_classes"])
            if (!c.is_string()) throw Error("a class is not text");
        }
        if (p.contains("extra")) {
          const auto& e = p["extra"];
          if (!e.is_object()) throw Error("'extra' is not an object");
          for (const char* k : {"bucket", "category"})
            if (e.contains(k) && !e[k].is_string())
              throw Error(std::string("'extra.") + k + "' is not text");
          if (e.contains("groups")) {
            if (!e["groups"].is_array()) throw Error("'extra.groups' is not a list");
            for (const auto& g : e["groups"])
              if (!g.is_string()) throw Error("a group in 'extra.groups' is not text");
          }
          if (e.contains("depth") && !e["depth"].is_number())
            throw Error("'extra.depth' is not a number");
        }
        for (const char* k : {"prefill_ms", "decode_ms", "latency_ms", "kv_held_bytes", "kv_bytes",
                              "attention_recall"})
          if (p.contains(k) && !p[k].is_number())
            throw Error(std::string("'") + k + "' is not a number");
      } catch (const std::exception& e) {
        // A run killed mid-write leaves a partial last line, without its newline: it is dropped,
        // and redone on resume. A complete line that is not a prediction is an error, last or not.
        if (in.eof()) break;
        throw Error(f.string() + ":" + std::to_string(n) + ": not a prediction (" + e.what() + ")");
      }
      if (seen.insert(prediction_key(p)).second) out.push_back(std::move(p));
    }
  }
  return out;
}

nlohmann::json score_predictions(std::vector<nlohmann::json>& predictions) {
  struct Acc {
    double score = 0, prefill_ms = 0, decode_ms = 0, latency_ms = 0, kv_held = 0, kv_bytes = 0;
    int64_t n = 0, lines = 0, nulls = 0, prompt_tokens = 0, new_tokens = 0;  // n: generated
    std::string category;
    std::map<std::string, double> by_sample;  // id -> score, for intervals and pairing
    LikelihoodSamples likelihood;             // teacher-forced answers (--metric)
    std::map<std::string, double> recall;     // id -> attention recall (--attention-recall)
  };
  std::map<std::tuple<std::string, int64_t, std::string>, std::map<std::string, double>>
      pooled_recall, pooled_score;  // per length and mode: id -> value, every task together
  // Per benchmark x length x mode: every task's teacher-forced answers together.
  std::map<std::tuple<std::string, int64_t, std::string>, LikelihoodSamples> pooled;
  // key: benchmark, task, length, mode
  std::map<std::tuple<std::string, std::string, int64_t, std::string>, Acc> acc;
  for (auto& p : predictions) {
    std::string metric = p["metric"];
    const bool generated = p.value("generated", true);
    double s = generated ? score_sample(metric, p["pred"].get<std::string>(), strings(p["answers"]),
                                        strings(p.value("all_classes", nlohmann::json())),
                                        p.value("first_line", false))
                         : 0;
    if (generated) p["score"] = s;
    // The rows a prediction counts in: its task (with LongBench-E's bucket), or each of the
    // groups it names (LongBench v2: overall, its difficulty, its length).
    std::string task = p["task"];
    if (p.contains("extra") && p["extra"].contains("bucket"))
      task += " (" + p["extra"]["bucket"].get<std::string>() + ")";
    const std::vector<std::string> tasks = p.contains("extra") && p["extra"].contains("groups")
                                               ? strings(p["extra"]["groups"])
                                               : std::vector<std::string>{task};
    const std::string pred = generated ? p["pred"].get<std::string>() : std::string();
    std::string cleaned = metric.starts_with("string_match") ? ruler_postprocess(pred) : pred;
    for (const std::string& row : tasks) {
      Acc& a = acc[{p["benchmark"], row, p.value("length", int64_t(0)), p["mode"]}];
      if (p.contains("answer_logprob")) {
        a.likelihood.logprob[p["id"]] = p["answer_logprob"].get<double>();
        a.likelihood.greedy[p["id"]] = p["answer_greedy"].get<bool>() ? 1 : 0;
        pooled[{p["benchmark"], p.value("length", int64_t(0)), p["mode"]}].logprob[p["id"]] =
            p["answer_logprob"].get<double>();
        pooled[{p["benchmark"], p.value("length", int64_t(0)), p["mode"]}].greedy[p["id"]] =
            p["answer_greedy"].get<bool>() ? 1 : 0;
      }
      ++a.lines;
      a.prefill_ms += p.value("prefill_ms", 0.0);
      a.kv_held += p.value("kv_held_bytes", 0.0);
      a.kv_bytes += p.value("kv_bytes", 0.0);
      a.prompt_tokens += p.value("prompt_tokens", int64_t(0));
      if (p.contains("extra") && p["extra"].contains("category"))
        a.category = p["extra"]["category"];
      if (p.contains("attention_recall")) {
        a.recall[p["id"]] = p["attention_recall"].get<double>();
        pooled_recall[{p["benchmark"], p.value("length", int64_t(0)), p["mode"]}][p["id"]] =
            p["attention_recall"].get<double>();
      }
      if (!generated) continue;  // likelihood only: in no score
      pooled_score[{p["benchmark"], p.value("length", int64_t(0)), p["mode"]}][p["id"]] = s;
      a.score += s;
      ++a.n;
      a.by_sample[p["id"].get<std::string>()] = s;
      a.nulls += cleaned.empty();
      a.decode_ms += p.value("decode_ms", 0.0);
      a.latency_ms += p.value("latency_ms", 0.0);
      a.new_tokens += p.value("decode_steps", int64_t(0));  // the first comes from prefill
    }
  }
  nlohmann::json rows = nlohmann::json::array();
  std::map<std::tuple<std::string, std::string, int64_t, std::string>, double> dense_score;
  // Per benchmark x length x mode, per group (task or category), each task's sample scores: what
  // the average's interval resamples.
  std::map<std::tuple<std::string, int64_t, std::string>,
           std::map<std::string, std::vector<std::vector<double>>>>
      per_sample;
  for (const auto& [k, a] : acc) {
    auto [bench, task, length, mode] = k;
    nlohmann::json r = {{"benchmark", bench},
                        {"task", task},
                        {"length", length},
                        {"mode", mode},
                        {"n", a.n},
                        {"prefill_tokens_per_s",
                         a.prefill_ms > 0 ? 1000.0 * double(a.prompt_tokens) / a.prefill_ms : 0.0},
                        {"kv_held_bytes", a.kv_held / double(a.lines)},
                        {"kv_bytes", a.kv_bytes / double(a.lines)}};
    if (!a.category.empty()) r["category"] = a.category;
    const std::string key = bench + "/" + task + "/" + std::to_string(length) + "/" + mode;
    const auto dense_likelihood = acc.find({bench, task, length, "dense"});
    add_likelihood_fields(r, a.likelihood,
                          mode != "dense" && dense_likelihood != acc.end()
                              ? &dense_likelihood->second.likelihood
                              : nullptr,
                          key);
    add_mean_fields(r, "attention_recall", a.recall, key);
    if (a.n == 0) {  // likelihood only: no score
      rows.push_back(r);
      continue;
    }
    r["score"] = task_score(bench, a.score, a.n);
    r["nulls"] = a.nulls;
    r["decode_tokens_per_s"] = a.decode_ms > 0 ? 1000.0 * double(a.new_tokens) / a.decode_ms : 0.0;
    r["latency_ms"] = a.latency_ms / double(a.n);
    std::vector<double> scores;
    for (const auto& [id, s] : a.by_sample) scores.push_back(s);
    const Interval ci = score_interval95(scores, Rng::derive(0, key));
    r["ci95"] = {round2(100 * ci.lo), round2(100 * ci.hi)};
    const std::string group = by_category(bench) ? a.category : task;
    if (in_average(bench, task))
      per_sample[{bench, length, mode}][group].push_back(std::move(scores));
    if (mode == "dense") dense_score[{bench, task, length, ""}] = r["score"];
    rows.push_back(r);
  }
  for (auto& r : rows) {
    auto it = dense_score.find({r["benchmark"], r["task"], r["length"], ""});
    if (it == dense_score.end() || !r.contains("score")) continue;
    if (it->second > 0) r["vs_dense"] = r["score"].get<double>() / it->second;
    if (r["mode"] == "dense") continue;
    // The paired difference from dense over the samples both ran: the same prompts, so the
    // sample-to-sample spread cancels and a small n can still separate modes.
    const Acc& mine = acc[{r["benchmark"], r["task"], r["length"], r["mode"]}];
    const Acc& dense = acc[{r["benchmark"], r["task"], r["length"], "dense"}];
    std::vector<double> ours, theirs;
    for (const auto& [id, s] : mine.by_sample)
      if (auto d = dense.by_sample.find(id); d != dense.by_sample.end()) {
        ours.push_back(s);
        theirs.push_back(d->second);
      }
    if (ours.empty()) continue;
    const std::string key = r["benchmark"].get<std::string>() + "/" + r["task"].get<std::string>() +
                            "/" + std::to_string(r["length"].get<int64_t>()) + "/" +
                            r["mode"].get<std::string>() + "/paired";
    const PairedDifference pd = paired_difference95(ours, theirs, Rng::derive(0, key));
    r["diff_vs_dense"] = round2(100 * pd.mean);
    r["diff_ci95"] = {round2(100 * pd.ci.lo), round2(100 * pd.ci.hi)};
    r["diff_n"] = ours.size();
    r["diff_sign_test_p"] = pd.sign_test_p;
    r["diff_resolved"] = pd.resolved;
  }
  // Per benchmark x length x mode: the mean over tasks (RULER's per-length average) or, for
  // LongBench, over the categories' means (eval.py's "Avg").
  std::map<std::tuple<std::string, int64_t, std::string>,
           std::map<std::string, std::vector<double>>>
      groups;
  std::map<std::tuple<std::string, int64_t, std::string>, std::vector<double>> speeds;
  for (const auto& r : rows) {
    std::string bench = r["benchmark"];
    if (!in_average(bench, r["task"]) || !r.contains("score")) continue;
    std::string group = by_category(bench) ? r.value("category", "") : r["task"].get<std::string>();
    groups[{bench, r["length"], r["mode"]}][group].push_back(r["score"]);
    speeds[{bench, r["length"], r["mode"]}].push_back(r["decode_tokens_per_s"]);
  }
  nlohmann::json averages = nlohmann::json::array();
  for (const auto& [k, g] : groups) {
    double sum = 0;
    for (const auto& [name, scores] : g) {
      double s = 0;
      for (double x : scores) s += x;
      sum += s / double(scores.size());
    }
    const auto& sp = speeds[k];
    double speed = 0;
    for (double x : sp) speed += x;
    std::vector<std::vector<std::vector<double>>> samples;
    for (auto& [name, tasks] : per_sample[k]) samples.push_back(tasks);
    const Interval ci = average_interval95(
        samples, Rng::derive(0, std::get<0>(k) + "/" + std::to_string(std::get<1>(k)) + "/" +
                                    std::get<2>(k) + "/average"));
    averages.push_back({{"benchmark", std::get<0>(k)},
                        {"length", std::get<1>(k)},
                        {"mode", std::get<2>(k)},
                        {"score", round2(sum / double(g.size()))},
                        {"ci95", {round2(100 * ci.lo), round2(100 * ci.hi)}},
                        {"groups", g.size()},
                        {"decode_tokens_per_s", speed / double(sp.size())}});
  }
  // Answer likelihood per length and mode over every task's samples together (each sample paired
  // with dense's on the same prompt).
  for (const auto& [k, lk] : pooled) {
    const auto& [bench, length, mode] = k;
    auto entry = std::find_if(averages.begin(), averages.end(), [&](const nlohmann::json& a) {
      return a["benchmark"] == bench && a["length"] == length && a["mode"] == mode;
    });
    if (entry == averages.end()) {
      averages.push_back({{"benchmark", bench}, {"length", length}, {"mode", mode}});
      entry = averages.end() - 1;
    }
    const auto dense = pooled.find({bench, length, "dense"});
    add_likelihood_fields(*entry, lk,
                          mode != "dense" && dense != pooled.end() ? &dense->second : nullptr,
                          bench + "/" + std::to_string(length) + "/" + mode + "/pooled");
  }
  // The paired score difference from dense per length over every task's samples together: one
  // pair per sample, as the likelihood's (a task mean's difference needs many more samples).
  for (auto& a : averages) {
    const auto mine = pooled_score.find({a["benchmark"], a["length"], a["mode"]});
    const auto dense = pooled_score.find({a["benchmark"], a["length"], "dense"});
    if (a["mode"] == "dense" || mine == pooled_score.end() || dense == pooled_score.end()) continue;
    std::vector<double> ours, theirs;
    for (const auto& [id, x] : mine->second)
      if (auto d = dense->second.find(id); d != dense->second.end()) {
        ours.push_back(x);
        theirs.push_back(d->second);
      }
    if (ours.empty()) continue;
    const PairedDifference pd =
        paired_difference95(ours, theirs,
                            Rng::derive(0, a["benchmark"].get<std::string>() + "/" +
                                               std::to_string(a["length"].get<int64_t>()) + "/" +
                                               a["mode"].get<std::string>() + "/pooled/paired"));
    a["diff_vs_dense"] = round2(100 * pd.mean);
    a["diff_ci95"] = {round2(100 * pd.ci.lo), round2(100 * pd.ci.hi)};
    a["diff_n"] = ours.size();
    a["diff_sign_test_p"] = pd.sign_test_p;
    a["diff_resolved"] = pd.resolved;
  }
  for (const auto& [k, values] : pooled_recall) {
    const auto& [bench, length, mode] = k;
    for (auto& a : averages)
      if (a["benchmark"] == bench && a["length"] == length && a["mode"] == mode)
        add_mean_fields(a, "attention_recall", values,
                        bench + "/" + std::to_string(length) + "/" + mode + "/pooled");
  }
  return {{"rows", rows}, {"averages", averages}};
}

std::string format_table(const nlohmann::json& scores) {
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line,
                "| %-12s | %-22s | %6s | %-34s | %3s | %7s | %-15s | %7s | %-25s | %-27s | %9s | "
                "%9s | %8s |\n",
                "benchmark", "task", "length", "mode", "n", "score", "95% CI", "x dense",
                "- dense [95% CI]", "log P(answer) - dense", "prefill/s", "decode/s", "KV MiB");
  out << line;
  out << "|" << std::string(14, '-') << "|" << std::string(24, '-') << "|" << std::string(8, '-')
      << "|" << std::string(36, '-') << "|" << std::string(5, '-') << "|" << std::string(9, '-')
      << "|" << std::string(17, '-') << "|" << std::string(9, '-') << "|" << std::string(27, '-')
      << "|" << std::string(29, '-') << "|" << std::string(11, '-') << "|" << std::string(11, '-')
      << "|" << std::string(10, '-') << "|\n";
  double widest = 0;  // the widest score interval's half-width, in points
  std::vector<std::string> modes =
      modes_in_order(scores["rows"], scores.value("modes", nlohmann::json()));
  auto rows = scores["rows"];
  std::vector<nlohmann::json> sorted(rows.begin(), rows.end());
  // LongBench v2's rows in result.py's order; other tasks by name.
  auto task_key = [](const nlohmann::json& r) {
    static const std::vector<std::string> v2 = {"overall", "easy",   "hard",
                                                "short",   "medium", "long"};
    const std::string t = r["task"];
    auto it = std::find(v2.begin(), v2.end(), t);
    return r["benchmark"] == "longbench-v2" && it != v2.end()
               ? std::string(1, char('0' + (it - v2.begin())))
               : t;
  };
  std::stable_sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) {
    auto ka = std::tuple(a["benchmark"].template get<std::string>(), task_key(a),
                         a["length"].template get<int64_t>());
    auto kb = std::tuple(b["benchmark"].template get<std::string>(), task_key(b),
                         b["length"].template get<int64_t>());
    if (ka != kb) return ka < kb;
    auto ia = std::find(modes.begin(), modes.end(), a["mode"].template get<std::string>());
    auto ib = std::find(modes.begin(), modes.end(), b["mode"].template get<std::string>());
    return ia < ib;
  });
  for (const auto& r : sorted) {
    std::string rel =
        r.contains("vs_dense") ? format_double("%.2f", r["vs_dense"].get<double>()) : "-";
    std::string ci = "-", diff = "-";
    if (r.contains("ci95")) {
      const double lo = r["ci95"][0], hi = r["ci95"][1];
      ci = "[" + format_double("%.1f", lo) + ", " + format_double("%.1f", hi) + "]";
      widest = std::max(widest, (hi - lo) / 2);
    }
    if (r.contains("diff_vs_dense")) {
      // '*': the interval excludes zero, the modes differ on these samples.
      diff = format_double("%+.1f", r["diff_vs_dense"].get<double>()) + " [" +
             format_double("%+.1f", r["diff_ci95"][0].get<double>()) + ", " +
             format_double("%+.1f", r["diff_ci95"][1].get<double>()) + "]" +
             (r["diff_resolved"].get<bool>() ? "*" : "");
    }
    // Answer log-likelihood: the paired difference from dense in nats, else the mode's own mean.
    std::string lik = "-";
    if (r.contains("logprob_diff_vs_dense"))
      lik = format_double("%+.3f", r["logprob_diff_vs_dense"].get<double>()) + " [" +
            format_double("%+.2f", r["logprob_diff_ci95"][0].get<double>()) + ", " +
            format_double("%+.2f", r["logprob_diff_ci95"][1].get<double>()) + "]" +
            (r["logprob_diff_resolved"].get<bool>() ? "*" : "");
    else if (r.contains("logprob_mean"))
      lik = "(" + format_double("%.3f", r["logprob_mean"].get<double>()) + ")";
    const std::string score =
        r.contains("score") ? format_double("%.2f", r["score"].get<double>()) : "-";
    const std::string decode = r.contains("decode_tokens_per_s")
                                   ? format_double("%.1f", r["decode_tokens_per_s"].get<double>())
                                   : "-";
    std::snprintf(line, sizeof line,
                  "| %-12s | %-22s | %6lld | %-34s | %3lld | %7s | %-15s | %7s | %-25s | %-27s | "
                  "%9.1f | %9s | %8.1f |\n",
                  r["benchmark"].get<std::string>().c_str(), r["task"].get<std::string>().c_str(),
                  (long long)r["length"].get<int64_t>(), r["mode"].get<std::string>().c_str(),
                  (long long)r["n"].get<int64_t>(), score.c_str(), ci.c_str(), rel.c_str(),
                  diff.c_str(), lik.c_str(), r["prefill_tokens_per_s"].get<double>(),
                  decode.c_str(), r["kv_held_bytes"].get<double>() / 1048576.0);
    out << line;
  }
  out << "\n95% CI: Wilson's interval for right/wrong scores, a bootstrap over samples otherwise. "
         "- dense: the paired difference over the same samples (Newcombe's interval for "
         "right/wrong, else a bootstrap); * where it excludes 0 and an exact sign test agrees "
         "(p < 0.05). log P(answer) - dense: the reference answer teacher-forced, its "
         "log-likelihood's paired difference in nats (a bootstrap; * as above); (x): dense's own "
         "mean\n";
  if (widest > 10) {
    out << "warning: some scores have 95% intervals wider than +-10 points (up to +-"
        << format_double("%.1f", widest)
        << "): these samples cannot resolve a 10-point difference; raise --samples\n";
  }
  out << "\nmean over tasks (LongBench: over categories; LongBench v2: overall)\n";
  std::vector<nlohmann::json> averages(scores["averages"].begin(), scores["averages"].end());
  std::stable_sort(averages.begin(), averages.end(), [&](const auto& a, const auto& b) {
    if (a["benchmark"] != b["benchmark"]) return a["benchmark"] < b["benchmark"];
    if (a["length"] != b["length"]) return a["length"] < b["length"];
    return std::find(modes.begin(), modes.end(), a["mode"].template get<std::string>()) <
           std::find(modes.begin(), modes.end(), b["mode"].template get<std::string>());
  });
  for (const auto& a : averages) {
    const std::string ci = a.contains("ci95")
                               ? "[" + format_double("%.1f", a["ci95"][0].get<double>()) + ", " +
                                     format_double("%.1f", a["ci95"][1].get<double>()) + "]"
                               : "";
    std::snprintf(line, sizeof line, "  %-12s %6lld  %-34s",
                  a["benchmark"].get<std::string>().c_str(), (long long)a["length"].get<int64_t>(),
                  a["mode"].get<std::string>().c_str());
    std::string text = line;
    if (a.contains("score"))
      text += "  score " + format_double("%6.2f", a["score"].get<double>()) + " " + ci +
              std::string(ci.size() < 14 ? 14 - ci.size() : 0, ' ') + "  decode " +
              format_double("%6.1f", a["decode_tokens_per_s"].get<double>()) + " tokens/s";
    if (a.contains("diff_vs_dense"))
      text += "  - dense " + format_double("%+.1f", a["diff_vs_dense"].get<double>()) + " [" +
              format_double("%+.1f", a["diff_ci95"][0].get<double>()) + ", " +
              format_double("%+.1f", a["diff_ci95"][1].get<double>()) + "]" +
              (a["diff_resolved"].get<bool>() ? "*" : "");
    if (a.contains("logprob_diff_vs_dense"))
      text += "  log P(answer) - dense " +
              format_double("%+.3f", a["logprob_diff_vs_dense"].get<double>()) + " [" +
              format_double("%+.3f", a["logprob_diff_ci95"][0].get<double>()) + ", " +
              format_double("%+.3f", a["logprob_diff_ci95"][1].get<double>()) + "]" +
              (a["logprob_diff_resolved"].get<bool>() ? "*" : "") +
              " n=" + std::to_string(a["logprob_diff_n"].get<int64_t>());
    if (a.contains("attention_recall"))
      text += "  attention recall " + format_double("%.3f", a["attention_recall"].get<double>()) +
              " [" + format_double("%.3f", a["attention_recall_ci95"][0].get<double>()) + ", " +
              format_double("%.3f", a["attention_recall_ci95"][1].get<double>()) + "]";
    if (a.contains("greedy_match"))
      text += "  answer greedy " + format_double("%.1f", a["greedy_match"].get<double>()) + "%";
    out << text << "\n";
  }
  return out.str();
}

}  // namespace longctx::eval
