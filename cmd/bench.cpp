// `longctx bench`: llama-bench's method (gguf.md 6.4) on longctx: random token ids, a warm-up run,
// then for each context depth and repetition a fresh cache, pp = n_prompt tokens in n_batch
// chunks and tg = n_gen single-token steps, reported as mean +/- standard deviation of tokens/s.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cmd/bench.h"
#include "cmd/commands.h"
#include "cmd/generation.h"
#include "cmd/model_path.h"
#include "engine/attention/registry.h"
#include "kernels/cpu/peak.h"
#include "kernels/cpu/vec.h"
#include "support/error.h"

namespace longctx::cmd {
namespace {

struct Result {
  std::string attention;
  std::string test;
  int64_t depth = 0;
  int64_t tokens = 0;
  double mean = 0, stddev = 0;
  int64_t kv_held = 0, kv_allocated = 0;  // after the test
  double attention_ms_per_token = 0;      // of the timed tokens, in attention (all layers)
  double planning_ms_per_token = 0;       // of that, in the policies' host work
  std::string backend;                    // "CPU (AVX-512)", "CUDA (NVIDIA H200)"
  double recall = -1;  // tg with --attention-recall: the mean over its steps, layers and heads
};

std::vector<int64_t> parse_list(const std::string& text, const char* flag) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      if (used != item.size() || v < 0) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw Error(std::string(flag) + ": '" + item + "' is not a non-negative integer");
    }
    // A depth is a context length: beyond 2^30 tokens (32-bit positions) it cannot run, and the
    // context it implies must not overflow.
    if (out.back() > (int64_t(1) << 30))
      throw Error(std::string(flag) + " " + item + ": at most 1073741824 tokens");
  }
  if (out.empty()) throw Error(std::string(flag) + ": empty list");
  return out;
}

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  double var = 0;
  for (double x : v) var += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(var / double(v.size() - 1)) : 0.0};
}

}  // namespace

namespace {

int print_peak(const BenchOptions& o, std::FILE* out) {
  set_threads(o.model.threads);
  const int threads = omp_get_max_threads();
  const auto rates = cpu::measure_peak(threads);
  if (o.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rates)
      j.push_back(
          {{"instruction", r.instruction}, {"threads", threads}, {"macs_per_s", r.macs_per_s}});
    std::fprintf(out, "%s\n", j.dump(1).c_str());
    return 0;
  }
  std::fprintf(out,
               "| instruction | threads | G multiply-accumulates/s |\n| --- | ---: | ---: |\n");
  for (const auto& r : rates)
    std::fprintf(out, "| %s | %d | %.1f |\n", r.instruction.c_str(), threads, r.macs_per_s / 1e9);
  return 0;
}

}  // namespace

int bench(BenchOptions o, std::FILE* out, std::FILE* err) {
  if (o.peak) return print_peak(o, out);
  auto depths = parse_list(o.depths, "-d");
  int64_t need = 0;
  for (int64_t d : depths) need = std::max<int64_t>(need, d + std::max(o.n_prompt, o.n_gen) + 1);
  ModelOptions mo = o.model;
  if (mo.n_ctx == 0) mo.n_ctx = need;
  set_threads(mo.threads);
  // Several modes compare side by side on one loaded model and the same random tokens.
  std::vector<std::string> modes =
      mo.attn_config.empty() ? split_policy_list(mo.attn) : std::vector<std::string>{""};
  auto model = load_model(resolve_model(mo.model));
  const ModelConfig& c = model->config;
  share_device_model(*model, mo);  // the modes one after another, on one copy of the weights
  std::vector<Result> results;
  for (const std::string& mode : modes) {
    auto session = make_session(*model, mo, mode);
    Session& s = *session;
    const std::string attention = mode.empty() ? mo.attn_config : mode;
    if (need > s.n_ctx()) {
      throw Error("bench needs a context of " + std::to_string(need) + " tokens; -c is " +
                  std::to_string(s.n_ctx()));
    }
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> any_token(0, int32_t(c.n_vocab - 1));
    auto random_tokens = [&](int64_t n) {
      std::vector<int32_t> t(static_cast<size_t>(n));
      for (auto& x : t) x = any_token(rng);
      if (!t.empty() && model->vocab.add_bos && model->vocab.bos >= 0) t[0] = model->vocab.bos;
      return t;
    };
    auto fill = [&](int64_t depth) {
      s.clear();
      if (depth > 0) s.eval(random_tokens(depth));
    };
    fill(0);
    s.eval(random_tokens(std::min<int64_t>(16, s.n_ctx())));  // warm-up
    for (int64_t depth : depths) {
      std::string at = depth > 0 ? " @ d" + std::to_string(depth) : "";
      if (o.n_prompt > 0) {
        std::vector<double> rates;
        double attn_ms = 0, plan_ms = 0;
        for (int r = 0; r < o.reps; ++r) {
          fill(depth);
          auto tokens = random_tokens(o.n_prompt);
          s.reset_timing();
          double t0 = now_ms();
          s.eval(tokens);
          rates.push_back(o.n_prompt / ((now_ms() - t0) / 1000));
          attn_ms += s.attention_ms();
          plan_ms += s.planning_ms();
        }
        auto [m, sd] = mean_std(rates);
        results.push_back({attention, "pp" + std::to_string(o.n_prompt) + at, depth, o.n_prompt, m,
                           sd, s.held_kv_bytes(), s.kv_bytes(),
                           attn_ms / double(o.reps * o.n_prompt),
                           plan_ms / double(o.reps * o.n_prompt), s.backend_name()});
      }
      if (o.n_gen > 0) {
        std::vector<double> rates;
        double attn_ms = 0, plan_ms = 0, recall = 0;
        for (int r = 0; r < o.reps; ++r) {
          fill(depth);
          if (depth == 0) s.eval(random_tokens(1));  // a first token, as llama-bench's BOS
          s.reset_timing();
          s.reset_recall();
          double t0 = now_ms();
          for (int i = 0; i < o.n_gen; ++i) {
            int32_t one[1] = {any_token(rng)};
            s.eval(one);
          }
          rates.push_back(o.n_gen / ((now_ms() - t0) / 1000));
          attn_ms += s.attention_ms();
          plan_ms += s.planning_ms();
          if (s.recall()) recall += s.recall()->mean() / o.reps;
        }
        auto [m, sd] = mean_std(rates);
        results.push_back({attention, "tg" + std::to_string(o.n_gen) + at, depth, o.n_gen, m, sd,
                           s.held_kv_bytes(), s.kv_bytes(), attn_ms / double(o.reps * o.n_gen),
                           plan_ms / double(o.reps * o.n_gen), s.backend_name(),
                           s.recall() ? recall : -1.0});
      }
    }
  }
  std::string model_name =
      std::string(c.arch->name) + " " + model->path.substr(model->path.rfind('/') + 1);
  double size_mib = double(model->weight_bytes) / 1048576.0;
  int64_t params = model->n_params;
  int threads = omp_get_max_threads();
  if (o.json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const Result& r : results) {
      j.push_back({{"model", model_name},
                   {"size_mib", size_mib},
                   {"params", params},
                   {"backend", r.backend},
                   {"threads", threads},
                   {"test", r.test},
                   {"depth", r.depth},
                   {"tokens", r.tokens},
                   {"avg_ts", r.mean},
                   {"stddev_ts", r.stddev},
                   {"kv_bytes", r.kv_allocated},
                   {"kv_held_bytes", r.kv_held},
                   {"attention_ms_per_token", r.attention_ms_per_token},
                   {"planning_ms_per_token", r.planning_ms_per_token},
                   {"kv_type", mo.kv_type},
                   {"peak_rss_bytes", peak_rss_bytes()},
                   {"attention", r.attention},
                   {"isa", cpu::isa_name(cpu::detected_isa())}});
      if (r.recall >= 0) j.back()["attention_recall"] = r.recall;
    }
    std::fprintf(out, "%s\n", j.dump(2).c_str());
  } else if (o.csv) {
    std::fprintf(
        out,
        "model,size_mib,params,backend,threads,attention,kv_type,test,depth,avg_ts,stddev_ts,"
        "kv_bytes,kv_held_bytes,peak_rss_bytes,attention_ms_per_token,planning_ms_per_token\n");
    for (const Result& r : results) {
      std::fprintf(
          out, "\"%s\",%.2f,%lld,\"%s\",%d,\"%s\",%s,%s,%lld,%.4f,%.4f,%lld,%lld,%ld,%.4f,%.4f\n",
          model_name.c_str(), size_mib, (long long)params, r.backend.c_str(), threads,
          r.attention.c_str(), mo.kv_type.c_str(), r.test.c_str(), (long long)r.depth, r.mean,
          r.stddev, (long long)r.kv_allocated, (long long)r.kv_held, peak_rss_bytes(),
          r.attention_ms_per_token, r.planning_ms_per_token);
    }
  } else {
    std::fprintf(out,
                 "| model | size | params | backend | threads | attention | test | t/s | attention "
                 "ms/token | of it planning | KV held |\n");
    std::fprintf(out,
                 "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (const Result& r : results) {
      const std::string test = r.recall >= 0 ? r.test + " (attention recall " +
                                                   std::to_string(r.recall).substr(0, 6) + ")"
                                             : r.test;
      std::fprintf(
          out,
          "| %s | %.2f MiB | %.2f M | %s | %d | %s | %s | %.2f ± %.2f | %.3f | %.3f | %.2f MiB "
          "|\n",
          model_name.c_str(), size_mib, double(params) / 1e6, r.backend.c_str(), threads,
          r.attention.c_str(), test.c_str(), r.mean, r.stddev, r.attention_ms_per_token,
          r.planning_ms_per_token, r.kv_held / 1048576.0);
    }
    std::fprintf(out, "\nKV cache %s, context %lld, peak RSS %.2f MiB\n", mo.kv_type.c_str(),
                 (long long)mo.n_ctx, peak_rss_bytes() / 1048576.0);
  }
  return 0;
}

Action add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  add_model_flags(app, o->model);
  app.add_option("-p,--n-prompt", o->n_prompt, "prompt tokens per pp test (0 = skip)")
      ->check(at_least(0));
  app.add_option("-n,--n-gen", o->n_gen, "generated tokens per tg test (0 = skip)")
      ->check(at_least(0));
  app.add_option("-d,--n-depth", o->depths, "comma list of context depths filled before each test");
  app.add_option("-r,--repetitions", o->reps, "repetitions of each test")->check(at_least(1));
  app.add_flag("--json", o->json, "print JSON");
  app.add_flag("--peak", o->peak,
               "print the machine's multiply-accumulate rate for each vector instruction the "
               "kernels use (f32, int16, int8; all -t threads), instead of running the model");
  app.add_flag("--csv", o->csv, "print CSV");
  app.add_flag("--attention-recall", o->model.attention_recall,
               "tg tests also report attention recall: the share of dense attention's mass on "
               "the keys each mode read (CPU; its dense attention is timed with the test)");
  return [o] { return bench(*o, stdout, stderr); };
}

}  // namespace longctx::cmd
