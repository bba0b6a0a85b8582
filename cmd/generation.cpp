#include "cmd/generation.h"

#include <omp.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include "cmd/model_path.h"
#include "support/error.h"
#include "support/memory.h"

namespace longctx::cmd {

void add_model_flags(CLI::App& app, ModelOptions& o) {
  app.add_option("-m,--model", o.model,
                 "GGUF file or Hugging Face folder (default: the cached SmolLM2-135M-Instruct)");
  app.add_option("-c,--ctx-size", o.n_ctx, "context size in tokens (0 = the model's)")
      ->check(at_least(0));
  app.add_option("-b,--batch-size", o.n_batch, "prompt tokens per forward chunk")
      ->check(at_least(1));
  app.add_option("-t,--threads", o.threads, "CPU threads (0 = all cores)")->check(at_least(0));
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
      ->check(CLI::IsMember(backend_names()));
}

void add_trace_flag(CLI::App& app, ModelOptions& o) {
  app.add_option("--trace-attention", o.trace_attention,
                 "write what each policy read and kept, per step, layer and head, as JSON lines");
}

void add_sampler_flags(CLI::App& app, SamplerOptions& o) {
  app.add_option("--temp", o.temperature, "temperature (0 = greedy)")
      ->check(CLI::Range(0.0f, 1e6f));
  app.add_option("--top-k", o.top_k, "keep the k most likely tokens (0 = off)")->check(at_least(0));
  app.add_option("--top-p", o.top_p, "nucleus sampling threshold")->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--min-p", o.min_p, "drop tokens below min-p times the best")
      ->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--repeat-penalty", o.repeat_penalty, "penalty for repeated tokens (1 = off)")
      ->check(CLI::Range(1e-6f, 1e6f));
  app.add_option("--repeat-last-n", o.repeat_last_n,
                 "tokens the penalty looks back over (-1 = all)")
      ->check(CLI::Range(-1, 1 << 30));
  app.add_option("-s,--seed", o.seed, "random seed (4294967295 = a new one each run)");
}

CLI::Validator at_least(long long min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        try {
          size_t used = 0;
          const long long v = std::stoll(text, &used);
          if (used == text.size() && v >= min) return {};
        } catch (const std::exception&) {
        }
        return text + " is not an integer of at least " + std::to_string(min);
      },
      "INT>=" + std::to_string(min));
}

Loaded load_for_generation(const ModelOptions& o) {
  set_threads(o.threads);
  Loaded l;
  double start = now_ms();
  l.model = load_model(resolve_model(o.model));
  l.session = make_session(*l.model, o);
  l.load_ms = now_ms() - start;
  return l;
}

GenerateHooks stream_to(std::FILE* out) {
  GenerateHooks hooks;
  hooks.emit = [out](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
    return true;
  };
  return hooks;
}

}  // namespace longctx::cmd
