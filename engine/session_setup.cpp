#include "engine/session_setup.h"

#include <omp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "engine/attention/registry.h"
#include "support/error.h"
#include "support/memory.h"

namespace longctx {

void start_trace(ModelOptions& o) {
  if (!o.trace_attention.empty() && !o.trace)
    o.trace = std::make_shared<AttentionTrace>(o.trace_attention);
}

void finish_trace(const ModelOptions& o) {
  if (o.trace) o.trace->finish();
}

std::string describe_policies(const Session& s) {
  std::string out;
  const int64_t n = s.model().config.n_layer;
  for (int64_t il = 0; il < n;) {
    int64_t end = il;
    while (end + 1 < n && s.policy_name(end + 1) == s.policy_name(il)) ++end;
    int64_t held = 0;
    for (int64_t j = il; j <= end; ++j) held += s.book().layer_held_bytes(j);
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

// The longest context a session takes: positions are 32-bit.
constexpr int64_t kMaxContext = int64_t(1) << 30;
// The share of the available memory one session may allocate when -c asks for it.
constexpr double kMaxMemoryShare = 0.75;

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB", bytes / 1048576.0);
  return buf;
}

// What the weights (mapped: they take memory as they are read) and `sessions` sessions of `so`
// hold.
double weights_and_sessions(const Model& model, const SessionOptions& so, int sessions) {
  return double(model.weight_bytes) + double(sessions) * session_host_bytes(model, so);
}

// The largest context (at most so.n_ctx) whose weights and sessions fit in `budget` bytes (the
// weights counted unless `mapped`: an address-space limit has them already): the memory is
// linear in the context. 0 when not even one token fits.
int64_t fitting_context(const Model& model, SessionOptions so, int sessions, double budget,
                        bool mapped = false) {
  const double weights = mapped ? double(model.weight_bytes) : 0.0;
  const double full = weights_and_sessions(model, so, sessions) - weights;
  if (full <= budget) return so.n_ctx;
  SessionOptions one = so;
  one.n_ctx = 1;
  const double fixed = weights_and_sessions(model, one, sessions) - weights;
  if (fixed > budget) return 0;
  const double per_token = (full - fixed) / double(std::max<int64_t>(so.n_ctx - 1, 1));
  return std::clamp<int64_t>(1 + int64_t((budget - fixed) / std::max(per_token, 1.0)), 1, so.n_ctx);
}

// The context the model runs correctly to: its trained length, or what its rope scaling extends
// the original context to (a Hugging Face config may keep the original as max_position_embeddings).
int64_t supported_context(const ModelConfig& c) {
  const RopeScaling& s = c.rope_scaling;
  if (s.type == RopeScalingType::None || s.original_context <= 0) return c.n_ctx_train;
  return std::max(c.n_ctx_train, int64_t(double(s.original_context) * s.factor));
}

// Sizes the context to the memory, or refuses it, before anything is allocated: every limit the
// process runs under (available RAM, its memory cgroup, ulimit -v) and every session it will hold
// at once (serve --parallel, eval's modes), with the numbers and what would fit.
void check_memory(const Model& model, const ModelOptions& o, SessionOptions& so) {
  const MemoryAvailable mem = memory_available();
  const int sessions = std::max(1, o.sessions);
  const std::string each = sessions > 1 ? " (x" + std::to_string(sessions) + " sessions)" : "";
  const double available = double(mem.ram);
  if (available > 0) {
    double need = weights_and_sessions(model, so, sessions);
    if (o.n_ctx == 0 && need > available / 2) {
      // The model's own context does not fit beside everything else: take what does (memory grows
      // linearly in the context) and say so.
      const int64_t fit = std::clamp<int64_t>(fitting_context(model, so, sessions, available / 2),
                                              std::min<int64_t>(512, so.n_ctx), so.n_ctx);
      spdlog::warn(
          "the model's context of {} tokens{} needs {} of memory, {} is available ({}); using "
          "-c {} (set -c to choose)",
          so.n_ctx, each, mib(need), mib(available), mem.ram_limit, fit);
      so.n_ctx = fit;
      so.n_batch = std::min(so.n_batch, so.n_ctx);
      need = weights_and_sessions(model, so, sessions);
    }
    // An explicit context may take most of the memory, not all of it: the weights, the model's
    // page cache and everything else live there too (a session of 23 GB on a machine with 24 GB
    // available thrashed instead of failing).
    const double budget = available * kMaxMemoryShare;
    if (need > budget) {
      SessionOptions q8 = so;
      q8.kv_type = KvType::Q8_0;
      std::string fits = "-c " + std::to_string(fitting_context(model, so, sessions, budget));
      if (so.kv_type != KvType::Q8_0 && so.kv_type != KvType::Q4_0 &&
          model.config.head_dim % 32 == 0)
        fits += ", or --kv-type q8_0 with -c " +
                std::to_string(fitting_context(model, q8, sessions, budget));
      if (sessions > 1) fits += ", or fewer sessions at once";
      throw Error("-c " + std::to_string(so.n_ctx) + " -b " + std::to_string(so.n_batch) +
                  ": the weights (" + mib(double(model.weight_bytes)) + ") and the session" + each +
                  " (" + mib(need - double(model.weight_bytes)) + ", KV cache at " +
                  kv_type_name(so.kv_type) + ") need " + mib(need) + " of memory but " +
                  mib(available) + " is available (" + mem.ram_limit +
                  "; a session may take 3/4 of it). What fits: " + fits +
                  "; or an eviction policy that bounds the cache (--attn " +
                  "streaming:prefill=windowed or h2o:prefill=chunked hold their budget)");
    }
  }
  // ulimit -v counts address space: the weights are mapped already, the sessions are not.
  if (mem.address_space >= 0) {
    const double need = weights_and_sessions(model, so, sessions) - double(model.weight_bytes);
    const double budget = double(mem.address_space) * kMaxMemoryShare;
    if (need > budget)
      throw Error("-c " + std::to_string(so.n_ctx) + ": the session" + each + " needs " +
                  mib(need) + " of address space but the process limit (ulimit -v) leaves " +
                  mib(double(mem.address_space)) +
                  " (a session may take 3/4 of it). What fits: -c " +
                  std::to_string(fitting_context(model, so, sessions, budget, true)) +
                  ", or a higher ulimit -v");
  }
}

}  // namespace

void share_device_model(const Model& model, ModelOptions& o) {
  // Loaded again when the model or the device changed since (eval's modes, a pool re-made).
  if (!o.device_model || &o.device_model->model() != &model ||
      o.device_model->kind() != find_backend(o.device).name)
    o.device_model = find_backend(o.device).load(model);
}

std::unique_ptr<Session> make_session(const Model& model, const ModelOptions& o,
                                      const std::string& attn) {
  const ModelConfig& c = model.config;
  std::vector<PolicySpec> policies;
  if (attn.ends_with(".json")) {
    policies = policies_from_config_file(attn, c.n_layer);
  } else if (!attn.empty()) {
    policies = policies_for_all_layers(attn, c.n_layer);
  } else if (!o.attn_config.empty()) {
    policies = policies_from_config_file(o.attn_config, c.n_layer);
  } else {
    if (split_policy_list(o.attn).size() > 1) {
      throw Error("--attn " + o.attn + ": one policy here (bench compares several)");
    }
    policies = policies_for_all_layers(o.attn, c.n_layer);
  }
  // Positions are 32-bit, as in llama.cpp.
  if (o.n_ctx > kMaxContext)
    throw Error("-c " + std::to_string(o.n_ctx) + ": at most " + std::to_string(kMaxContext));
  SessionOptions so;
  so.n_ctx = o.n_ctx > 0 ? o.n_ctx : std::min(c.n_ctx_train, kMaxContext);
  so.n_batch = o.n_batch;
  so.attention = policies;
  so.kv_type = parse_kv_type(o.kv_type);
  so.device = find_backend(o.device).name;
  so.weights = o.device_model;
  so.trace = o.trace;
  so.attention_recall = o.attention_recall;
  so.n_batch = std::min(so.n_batch, so.n_ctx);  // a chunk never exceeds the context
  check_memory(model, o, so);
  if (o.n_ctx > supported_context(c)) {
    spdlog::warn(
        "-c {} exceeds the {} tokens the model was trained on{}; expect degraded output past them",
        o.n_ctx, supported_context(c),
        c.rope_scaling.type == RopeScalingType::None
            ? " (no rope scaling extends it)"
            : " (its " + std::string(rope_scaling_name(c.rope_scaling.type)) +
                  " rope scaling included)");
  }
  return std::make_unique<Session>(model, so);
}

void set_threads(int threads) {
  if (threads <= 0) return;
  // More threads than processors only adds contention (each thread spins at barriers): -t 3000 on
  // two cores would start 3000 OpenMP threads.
  const int procs = omp_get_num_procs();
  if (threads > procs) {
    spdlog::warn("-t {}: this machine has {} processors; using {} threads", threads, procs, procs);
    threads = procs;
  }
  omp_set_num_threads(threads);
}

int request_threads(int threads, int parallel) {
  const int procs = omp_get_num_procs();
  if (threads <= 0) return std::max(1, procs / std::max(parallel, 1));
  // Each of `parallel` requests computes with its own threads at once.
  const int fit = std::max(1, procs / std::max(parallel, 1));
  if (int64_t(threads) * parallel > procs && fit < threads) {
    spdlog::warn("-t {} with --parallel {}: {} threads on {} processors; using {} per request",
                 threads, parallel, int64_t(threads) * parallel, procs, fit);
    return fit;
  }
  return threads;
}

}  // namespace longctx
