// Flags and helpers shared by the commands that run a model (run, chat, perplexity).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "engine/sampler.h"
#include "engine/session.h"
#include "models/model.h"

namespace longctx::cmd {

struct ModelOptions {
  std::string model;
  int64_t n_ctx = 0;  // 0: the model's context
  int64_t n_batch = 512;
  int threads = 0;                        // 0: all cores
  std::string attn = "dense";             // --attn NAME[:key=value,...] for every layer
  std::string attn_config;                // --attn-config FILE.json, a per-layer mix
  std::string kv_type = "f16";            // --kv-type: KV precision, with any policy
  std::string device = "cpu";             // --device cpu|cuda
  std::string trace_attention;            // --trace-attention FILE (run, perplexity, eval)
  std::shared_ptr<AttentionTrace> trace;  // opened by start_trace()
  // Sessions held at once (serve --parallel, eval's modes): the memory check counts them all.
  int sessions = 1;
};

void add_model_flags(CLI::App& app, ModelOptions& o);
// --trace-attention FILE, for the commands that offer it.
void add_trace_flag(CLI::App& app, ModelOptions& o);
// Opens the trace file, if one was asked for, before any work: one that cannot be written is an
// error (exit 2) before the model loads. finish_trace() flushes it and reports a failed write.
void start_trace(ModelOptions& o);
void finish_trace(const ModelOptions& o);
// -t: the OpenMP thread count (0 leaves OpenMP's default); more than the processors is lowered
// to them with a warning.
void set_threads(int threads);
// A flag's check that its value is an integer of at least `min`, in words ("-1 is not an integer
// of at least 0"): CLI11's NonNegativeNumber names its upper end, a 309-digit double.
CLI::Validator at_least(long long min);
// serve: the threads one request computes with when `parallel` run at once. 0: the processors
// shared out; a count that would put more threads than processors to work is lowered with a
// warning.
int request_threads(int threads, int parallel);
void add_sampler_flags(CLI::App& app, SamplerOptions& o);

// Loads the model, sets the thread count, sizes the context (lowered with a warning when the
// KV cache would not fit in the memory available) and opens a session.
struct Loaded {
  std::unique_ptr<Model> model;
  std::unique_ptr<Session> session;
  double load_ms = 0;
};
Loaded load_for_generation(const ModelOptions& o);
// A session over a loaded model with the options' context, batch, KV type and the given attention
// (one --attn value, or a per-layer preset FILE.json; empty: the options' --attn or --attn-config).
std::unique_ptr<Session> make_session(const Model& model, const ModelOptions& o,
                                      const std::string& attn = "");

// "layers 0-1 dense (1.5 MiB), layers 2-29 quest:budget=1024,page=16 (21 MiB)": the policy of
// each run of layers and the KV memory those layers hold now.
std::string describe_policies(const Session& session);
double now_ms();
long peak_rss_bytes();

}  // namespace longctx::cmd
