// A session built from what a user asks for in words: the attention mode ("dense", a policy
// spec, a per-layer JSON preset), the KV precision, the device, the context (sized to the memory
// every limit of the process leaves, or refused with what would fit). The commands, the evaluation
// runner and the server all open their sessions here.
#pragma once

#include <memory>
#include <string>

#include "engine/attention_trace.h"
#include "engine/session.h"
#include "models/model.h"

namespace longctx {

struct ModelOptions {
  std::string model;  // a GGUF file or a Hugging Face folder ("": the command's default)
  int64_t n_ctx = 0;  // 0: the model's context
  int64_t n_batch = 512;
  int threads = 0;              // 0: all cores
  std::string attn = "dense";   // NAME[:key=value,...] for every layer
  std::string attn_config;      // a per-layer mix, FILE.json
  std::string kv_type = "f16";  // KV precision, with any policy
  std::string device = "cpu";   // a registered backend's name
  // The weights on that device, shared by every session made from these options (null: each
  // session loads its own). share_device_model() sets it.
  std::shared_ptr<const DeviceModel> device_model;
  std::string trace_attention;            // a trace file to write (run, perplexity, eval)
  std::shared_ptr<AttentionTrace> trace;  // opened by start_trace()
  bool attention_recall = false;          // eval/bench --attention-recall (SessionOptions)
  // Sessions held at once (serve --parallel, eval's modes): the memory check counts them all.
  int sessions = 1;
};

// Opens the trace file, if one was asked for, before any work: one that cannot be written is an
// error before the model loads. finish_trace() flushes it and reports a failed write.
void start_trace(ModelOptions& o);
void finish_trace(const ModelOptions& o);

// OpenMP's thread count (0 leaves OpenMP's default); more than the processors is lowered to them
// with a warning.
void set_threads(int threads);
// serve: the threads one request computes with when `parallel` run at once. 0: the processors
// shared out; a count that would put more threads than processors to work is lowered with a
// warning.
int request_threads(int threads, int parallel);

// Loads the model's weights on the options' device once, for every session made from `o` after:
// what serve's pool and eval's runner do before they open several sessions.
void share_device_model(const Model& model, ModelOptions& o);

// A session over a loaded model with the options' context, batch, KV type and the given attention
// (one policy spec, or a per-layer preset FILE.json; empty: the options' attn or attn_config).
// Throws longctx::Error for a spec the registry refuses or a context the memory cannot hold.
std::unique_ptr<Session> make_session(const Model& model, const ModelOptions& o,
                                      const std::string& attn = "");

// "layers 0-1 dense (1.5 MiB), layers 2-29 quest:budget=1024,page=16 (21 MiB)": the policy of
// each run of layers and the KV memory those layers hold now.
std::string describe_policies(const Session& session);

}  // namespace longctx
