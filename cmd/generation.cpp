#include "cmd/generation.h"

#include <omp.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include "cmd/model_path.h"
#include "support/error.h"

namespace longctx::cmd {

void add_model_flags(CLI::App& app, ModelOptions& o) {
  app.add_option("-m,--model", o.model,
                 "GGUF file or Hugging Face folder (default: the cached SmolLM2-135M-Instruct)");
  app.add_option("-c,--ctx-size", o.n_ctx, "context size in tokens (0 = the model's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-b,--batch-size", o.n_batch, "prompt tokens per forward chunk")
      ->check(CLI::PositiveNumber);
  app.add_option("-t,--threads", o.threads, "CPU threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option(
      "--attn", o.attn,
      "attention policy for every layer: NAME[:key=value,...] (" + known_policies() + ")");
  app.add_option("--attn-config", o.attn_config,
                 "per-layer policies from a JSON file (see configs/)")
      ->excludes("--attn");
  app.add_option("--kv-type", o.kv_type, "KV cache precision: f16, q8_0 or q4_0 (any policy)")
      ->check(CLI::IsMember({"f16", "q8_0", "q4_0"}));
  app.add_option("--device", o.device,
                 "where the layers run: cpu, or cuda (weights and KV cache on the first GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
}

void add_sampler_flags(CLI::App& app, SamplerOptions& o) {
  app.add_option("--temp", o.temperature, "temperature (0 = greedy)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--top-k", o.top_k, "keep the k most likely tokens (0 = off)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", o.top_p, "nucleus sampling threshold")->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--min-p", o.min_p, "drop tokens below min-p times the best")
      ->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--repeat-penalty", o.repeat_penalty, "penalty for repeated tokens (1 = off)")
      ->check(CLI::PositiveNumber);
  app.add_option("--repeat-last-n", o.repeat_last_n,
                 "tokens the penalty looks back over (-1 = all)")
      ->check(CLI::Range(-1, 1 << 30));
  app.add_option("-s,--seed", o.seed, "random seed (4294967295 = a new one each run)");
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

long peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss * 1024L;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string describe_policies(const Session& s) {
  std::string out;
  const int64_t n = s.model().config.n_layer;
  for (int64_t il = 0; il < n;) {
    int64_t end = il;
    while (end + 1 < n && s.policy_name(end + 1) == s.policy_name(il)) ++end;
    int64_t held = 0;
    for (int64_t j = il; j <= end; ++j) held += s.cache().layer_held_bytes(j);
    char mib[32];
    std::snprintf(mib, sizeof mib, " (%.2f MiB)", held / 1048576.0);
    out += (out.empty() ? "" : ", ") + std::string(end > il ? "layers " : "layer ") +
           std::to_string(il) + (end > il ? "-" + std::to_string(end) : "") + " " +
           s.policy_name(il) + mib;
    il = end + 1;
  }
  return out;
}

namespace {

int64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

}  // namespace

std::unique_ptr<Session> make_session(const Model& model, const ModelOptions& o,
                                      const std::string& attn) {
  const ModelConfig& c = model.config;
  int64_t n_ctx = o.n_ctx > 0 ? o.n_ctx : c.n_ctx_train;
  const KvType kv_type = parse_kv_type(o.kv_type);
  int64_t per_token =
      c.n_layer * c.n_head_kv *
      (kernels::kv_row_bytes(kv_type, c.head_dim) + kernels::kv_row_bytes(kv_type, c.value_dim));
  int64_t budget = available_memory_bytes() / 2;  // leave room for everything else
  if (o.n_ctx == 0 && o.device == "cpu" && budget > 0 && n_ctx * per_token > budget) {
    int64_t fit = std::max<int64_t>(512, budget / per_token);
    spdlog::warn("the model's context of {} tokens needs {} MiB of KV cache; using {} tokens",
                 n_ctx, n_ctx * per_token >> 20, fit);
    n_ctx = fit;
  }
  std::vector<PolicySpec> policies;
  if (!attn.empty()) {
    policies = policies_for_all_layers(attn, c.n_layer);
  } else if (!o.attn_config.empty()) {
    policies = policies_from_config_file(o.attn_config, c.n_layer);
  } else {
    if (split_policy_list(o.attn).size() > 1) {
      throw Error("--attn " + o.attn + ": one policy here (bench compares several)");
    }
    policies = policies_for_all_layers(o.attn, c.n_layer);
  }
  return std::make_unique<Session>(
      model, SessionOptions{n_ctx, o.n_batch, policies, kv_type, parse_device(o.device)});
}

Loaded load_for_generation(const ModelOptions& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  Loaded l;
  double start = now_ms();
  l.model = load_model(resolve_model(o.model));
  l.session = make_session(*l.model, o);
  l.load_ms = now_ms() - start;
  return l;
}

}  // namespace longctx::cmd
