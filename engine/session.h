// A session over one model: the KV cache, the per-layer attention policies and the scratch
// buffers, all sized when it starts; eval() runs the forward pass over new tokens in chunks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/attention/policy.h"
#include "engine/attention/recall.h"
#include "engine/attention/registry.h"
#include "engine/attention_trace.h"
#include "engine/backend.h"
#include "engine/kv_book.h"
#include "engine/kv_rows.h"
#include "models/model.h"

namespace longctx {

struct SessionOptions {
  int64_t n_ctx = 0;      // KV capacity in tokens (0: the model's context)
  int64_t n_batch = 512;  // tokens per forward chunk in prefill
  // One policy per layer (empty: dense everywhere). Layers with their own sliding window (Gemma 3's
  // local layers) stay sliding-window whatever is asked, holding only the window.
  std::vector<PolicySpec> attention;
  KvType kv_type = KvType::F16;  // KV precision, orthogonal to the policies
  // Where the layers run: a registered backend's name (engine/backend.h). On a device the weights
  // and the KV cache's rows live there; the policies run on the host over the cache's positions
  // (and rows, for those reading keys).
  std::string device = "cpu";
  // The model's weights on that device, shared with other sessions (null: the session loads its
  // own, which on a device is another copy).
  std::shared_ptr<const DeviceModel> weights;
  // --trace-attention: every step's reads and evictions, written as they happen (null: off). A
  // traced session ranks Quest's pages on the host, where the spans can be seen.
  std::shared_ptr<AttentionTrace> trace;
  // Attention recall (engine/attention/recall.h): at every decode step, the share of the dense
  // attention's mass on the keys the policy read. CPU only; off by default (it keeps a float copy
  // of every key and computes dense attention beside the policy's).
  bool attention_recall = false;
};

// Host bytes a session with these options allocates when it starts: the KV cache (each layer's
// capacity, rows where the host holds them, positions) and the per-chunk scratch. A double, so
// that hostile sizes (-c 2^62) cannot overflow before they are refused.
double session_host_bytes(const Model& model, const SessionOptions& options);

class Session {
 public:
  Session(const Model& model, SessionOptions options);

  // Appends `tokens` after what the cache holds and runs them. Returns the logits of the last
  // token, or of every token when all_logits ([n][vocab]). Throws longctx::Error when the
  // context would overflow.
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false);

  int64_t n_past() const { return n_past_; }
  // Tokens that still fit: layers whose policy bounds what they hold make room as they go; the
  // others fill up.
  int64_t room() const;
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_bytes() const;       // allocated
  int64_t held_kv_bytes() const;  // in use now
  // "CPU (AVX-512)" or "CUDA (NVIDIA H200)".
  std::string backend_name() const;
  void clear();
  // Forgets everything after the first n tokens (a chat reuses the prefix it shares). Once tokens
  // were evicted the cache cannot rewind: can_truncate says so, truncate throws.
  bool can_truncate(int64_t n) const;
  void truncate(int64_t n);
  // Shared prefill. Whether every layer's policy steers a prompt's steps before its last chunk as
  // dense attention does (AttentionPolicy::shares_prefill).
  bool shares_prefill() const;
  // Whether adopt_prefix(base) is possible: every layer's policy can take the base layer's
  // prefix (AttentionPolicy::can_adopt_from: both share their prefill, or H2O from a dense layer
  // recording its mass), on the CPU, with the same model, KV layout (capacities, precision) and
  // chunk size.
  bool can_adopt_prefix(const Session& base) const;
  // Takes `base`'s cache (the first base.n_past() tokens of a prompt, evaluated in chunks of the
  // batch size) instead of computing it: this session is then as if it had evaluated them itself,
  // provided the rest of the prompt follows in one eval() whose chunking keeps base.n_past() a
  // chunk boundary (prefill_boundary). Throws longctx::Error unless can_adopt_prefix(base).
  void adopt_prefix(const Session& base);
  // The largest multiple of the batch size that eval() of `total` prompt tokens cuts at, for a
  // session whose last chunk must hold `min_last_chunk` tokens: where a shared prefix may end.
  int64_t prefill_boundary(int64_t total, int64_t min_last_chunk) const;
  int64_t min_last_chunk() const { return min_last_chunk_; }
  const Model& model() const { return model_; }
  // The weights this session runs on, as its device holds them (shared with the sessions given
  // the same DeviceModel).
  const DeviceModel& device_model() const { return *weights_; }
  std::string policy_name(int64_t layer) const { return policies_[size_t(layer)]->name(); }
  // The KV cache: its bookkeeping (positions, counts) and the rows the host holds (every layer
  // on the CPU; on a device, the layers whose policy reads keys).
  const KvBook& book() const { return book_; }
  const KvRows& rows() const { return backend_->host_rows(); }
  // Wall time spent in attention (policy planning, the kernel, statistics, eviction) since the
  // last reset_timing(): what the policies change, apart from the rest of the layer.
  double attention_ms() const;
  // Of that, host time in the policies' own work (plan, observe, evict and the host cache's edits):
  // what a policy costs besides the attention kernel it steers.
  double planning_ms() const { return planning_ms_; }
  void reset_timing();
  // Attention recall since the last reset_recall() (null unless SessionOptions::attention_recall).
  const AttentionRecall* recall() const { return recall_.get(); }
  void reset_recall() {
    if (recall_) recall_->reset_mean();
  }

 private:
  // engine/forward.cpp: the layer recipe.
  void forward_chunk(const int32_t* tokens, int64_t n, float* logits_out, bool all_logits,
                     bool prompt_end);
  // engine/attention/step.cpp: one layer's attention step and the eviction it names.
  void attention_step(int64_t il, int64_t n, bool prompt_end);
  void apply_eviction(const StepInfo& step, AttentionPolicy& policy, const Eviction& ev);

  const Model& model_;
  SessionOptions options_;
  int64_t n_ctx_;
  std::vector<std::unique_ptr<AttentionPolicy>> policies_;  // before book_: they size it
  KvBook book_;  // positions and counts; the backend owns the rows
  const BackendKind& kind_;
  std::shared_ptr<const DeviceModel> weights_;  // the weights on the device, maybe shared
  std::unique_ptr<Backend> backend_;            // this session's state there
  int64_t min_last_chunk_ = 1;
  int64_t exact_last_chunk_ = 0;  // the largest exact_last_chunk() of the policies
  bool evicted_ = false;          // some tokens left the cache: no rewinding to a prefix
  RopeTable rope_;                // per layer: rotary frequencies and amplitude
  int64_t n_past_ = 0;
  int64_t steps_ = 0;  // forward chunks since the last clear (what a trace numbers)
  double planning_ms_ = 0;
  std::vector<float> logits_;
  std::vector<int32_t> pos_;        // token positions of the chunk
  std::vector<int32_t> layer_pos_;  // the same inside one layer's cache (after shifts)
  std::vector<int64_t> shift_;      // per layer: positions shifted out by eviction
  std::vector<float> rotation_;     // cos and sin of one re-positioning
  std::vector<float> mass_;         // statistics, for policies that observe
  Selection selection_;
  Eviction eviction_;
  std::vector<KvMove> moves_;  // an eviction's moves, for the backend's rows
  std::unique_ptr<AttentionRecall> recall_;
  // Turns a rotated vector of layer il `by` positions forward (what re-positioning took back).
  void unshift(int64_t il, float* v, int64_t by);
  std::vector<float> unshift_table_;  // cos and sin of the last (layer, shift) unshift() used
  int64_t unshift_layer_ = -1, unshift_by_ = 0;
};

}  // namespace longctx
