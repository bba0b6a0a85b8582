#include "engine/session.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "engine/thread_governor.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/threads.h"
#include "support/error.h"

namespace longctx {
namespace {

std::vector<std::unique_ptr<AttentionPolicy>> make_policies(const ModelConfig& c,
                                                            const SessionOptions& o) {
  if (o.n_batch <= 0) throw Error("batch size must be positive");
  if (!o.attention.empty() && int64_t(o.attention.size()) != c.n_layer) {
    throw Error("attention: " + std::to_string(o.attention.size()) + " policies for " +
                std::to_string(c.n_layer) + " layers");
  }
  std::vector<std::unique_ptr<AttentionPolicy>> out;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    if (c.layer_is_local[size_t(il)] && c.sliding_window > 0) {
      out.push_back(make_sliding_window_policy(c.sliding_window));
    } else {
      out.push_back(o.attention.empty()
                        ? make_dense_policy()
                        : make_policy(o.attention[size_t(il)], {il, c.n_layer, &c}));
    }
  }
  return out;
}

// A layer whose policy bounds what it holds needs that bound plus one chunk; the others the
// context.
std::vector<int64_t> layer_capacities(const std::vector<std::unique_ptr<AttentionPolicy>>& policies,
                                      int64_t n_ctx, int64_t n_batch) {
  // A bounded layer holds at most max_held() between steps and one chunk more during a step.
  // While some layer is unbounded the session ends at n_ctx tokens, so no layer needs more than
  // n_ctx; when every layer is bounded generation runs past n_ctx and each needs its bound and a
  // chunk, whatever -c says.
  bool all_bounded = true;
  for (const auto& p : policies) all_bounded = all_bounded && p->max_held() >= 0;
  std::vector<int64_t> cap;
  for (const auto& p : policies) {
    int64_t held = p->max_held();
    cap.push_back(held < 0      ? n_ctx
                  : all_bounded ? held + n_batch
                                : std::min(n_ctx, held + n_batch));
  }
  return cap;
}

// Which layers' rows the host holds: all of them on the CPU (they are the cache); on a device only
// those whose policy reads keys on the host.
std::vector<bool> host_rows(const std::vector<std::unique_ptr<AttentionPolicy>>& policies,
                            const BackendKind& kind, bool traced) {
  std::vector<bool> rows;
  for (const auto& p : policies) {
    const bool device_ranks = !traced && kind.can_rank(p->rank_method());
    rows.push_back(kind.host_cache || (p->reads_keys() && !device_ranks));
  }
  return rows;
}

}  // namespace

double session_host_bytes(const Model& model, const SessionOptions& options) {
  const ModelConfig& c = model.config;
  const int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : c.n_ctx_train;
  auto policies = make_policies(c, options);
  std::vector<int64_t> cap = layer_capacities(policies, n_ctx, options.n_batch);
  std::vector<bool> rows =
      host_rows(policies, find_backend(options.device), options.trace != nullptr);
  const double row_bytes = double(kernels::kv_row_bytes(options.kv_type, c.head_dim) +
                                  kernels::kv_row_bytes(options.kv_type, c.value_dim));
  double kv = 0, max_cap = 0;
  for (size_t il = 0; il < cap.size(); ++il) {
    kv += double(c.n_head_kv) * double(cap[il]) * ((rows[il] ? row_bytes : 0) + sizeof(int32_t));
    max_cap = std::max(max_cap, double(cap[il]));
  }
  // Per token of a chunk: the activations of one layer and the logits of every token (perplexity
  // asks for all of them); per slot: one layer's attention statistics.
  const double per_token =
      double(3 * c.n_embd + c.n_head * c.head_dim + c.n_head_kv * (c.head_dim + c.value_dim) +
             c.n_head * c.value_dim + 2 * c.n_ff + c.n_head + c.n_vocab) *
          sizeof(float) +
      // Routed experts: the router's logits, the choice, one expert's rows in and out, gate, up.
      (c.routed()
           ? double(c.experts.count + 2 * c.experts.used + 2 * c.n_embd + 2 * c.experts.n_ff) *
                 sizeof(float)
           : 0.0);
  // Attention recall's float copy of every key of the layers it measures.
  double recall = 0;
  if (options.attention_recall)
    for (int64_t il = 0; il < c.n_layer; ++il)
      if (!c.layer_is_local[size_t(il)])
        recall += double(c.n_head_kv) * double(n_ctx) * double(c.head_dim) * sizeof(float);
  return kv + recall + double(options.n_batch) * per_token +
         double(c.n_head_kv) * max_cap * sizeof(float);
}

Session::Session(const Model& model, SessionOptions options)
    : model_(model),
      options_(options),
      n_ctx_(options.n_ctx > 0 ? options.n_ctx : model.config.n_ctx_train),
      policies_(make_policies(model.config, options)),
      book_(KvLayout(model.config.n_head_kv, model.config.head_dim, model.config.value_dim,
                     layer_capacities(policies_, n_ctx_, options.n_batch), options.kv_type)),
      kind_(find_backend(options.device)) {
  const ModelConfig& c = model.config;
  for (const auto& p : policies_) {
    min_last_chunk_ = std::max(min_last_chunk_, p->min_last_chunk());
    exact_last_chunk_ = std::max(exact_last_chunk_, p->exact_last_chunk());
    if (p->min_last_chunk() > options_.n_batch) {
      throw Error(p->name() + " observes the last " + std::to_string(p->min_last_chunk()) +
                  " prompt tokens together; raise the batch size (-b) to at least that");
    }
  }
  for (int64_t il = 0; il < c.n_layer; ++il) rope_.push_back(c.layer_rope(il, n_ctx_));
  weights_ = options_.weights ? options_.weights : kind_.load(model);
  if (&weights_->model() != &model)
    throw Error("internal: a session's weights belong to another model");
  if (weights_->kind() != kind_.name)
    throw Error("internal: weights on " + weights_->kind() + " for a session on " + kind_.name);
  backend_ = weights_->open(options_.n_batch, book_.layout(),
                            host_rows(policies_, kind_, options_.trace != nullptr), rope_);
  options_.weights.reset();  // held once, in weights_
  pos_.resize(size_t(options_.n_batch));
  layer_pos_.resize(size_t(options_.n_batch));
  rotation_.resize(size_t(c.n_rot));
  shift_.assign(size_t(c.n_layer), 0);
  if (options_.attention_recall) {
    if (!kind_.host_cache)
      throw Error(
          "attention recall is measured on the CPU (--device cpu), where every key is "
          "at hand");
    std::vector<bool> measured(size_t(c.n_layer));
    for (int64_t il = 0; il < c.n_layer; ++il) measured[size_t(il)] = !c.layer_is_local[size_t(il)];
    recall_ = std::make_unique<AttentionRecall>(c.n_head, c.n_head_kv, c.head_dim, c.attn_softcap,
                                                std::move(measured));
  }
}

void Session::unshift(int64_t il, float* v, int64_t by) {
  const ModelConfig& c = model_.config;
  const int64_t half = c.n_rot / 2;
  // One table per (layer, shift): a step's keys and query heads all turn by the same angles.
  if (unshift_layer_ != il || unshift_by_ != by) {
    unshift_table_.resize(size_t(c.n_rot));
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(by) * double(rope_[size_t(il)].inv_freq[size_t(i)]);
      unshift_table_[size_t(i)] = float(std::cos(angle));
      unshift_table_[size_t(half + i)] = float(std::sin(angle));
    }
    unshift_layer_ = il;
    unshift_by_ = by;
  }
  const float* table = unshift_table_.data();
  cpu::rope_table(v, c.head_dim, c.n_rot, table, table + half,
                  c.rope_type == RopeType::Neox ? cpu::RopeLayout::Halves : cpu::RopeLayout::Pairs);
}

void Session::clear() {
  if (recall_) recall_->clear();
  book_.clear();
  n_past_ = 0;
  steps_ = 0;
  evicted_ = false;
  std::fill(shift_.begin(), shift_.end(), 0);
  for (auto& p : policies_) p->reset();
  backend_->forget(0);
}

int64_t Session::kv_bytes() const {
  return book_.bytes();
}

int64_t Session::held_kv_bytes() const {
  return book_.held_bytes();
}

std::string Session::backend_name() const {
  return backend_->name();
}

double Session::attention_ms() const {
  return backend_->attention_ms();
}

void Session::reset_timing() {
  backend_->reset_attention_ms();
  planning_ms_ = 0;
}

int64_t Session::room() const {
  int64_t room = std::numeric_limits<int64_t>::max() / 4;  // every layer bounded: no end
  for (int64_t il = 0; il < int64_t(policies_.size()); ++il) {
    if (policies_[size_t(il)]->max_held() < 0)
      room = std::min(room, book_.capacity(il) - book_.used(il));
  }
  return room;
}

bool Session::can_truncate(int64_t n) const {
  return !evicted_ || n >= n_past_;
}

void Session::truncate(int64_t n) {
  if (!can_truncate(n))
    throw Error("this session has evicted tokens; it cannot rewind to a prefix");
  if (n < n_past_) {
    for (auto& p : policies_) p->reset();
    backend_->forget(n);
    if (recall_) recall_->truncate(n);
  }
  n_past_ = std::min(n_past_, n);
  book_.truncate(n_past_);
}

bool Session::shares_prefill() const {
  for (const auto& p : policies_)
    if (!p->shares_prefill()) return false;
  return true;
}

bool Session::can_adopt_prefix(const Session& base) const {
  const KvLayout &a = book_.layout(), &b = base.book_.layout();
  if (&model_ != &base.model_ || policies_.size() != base.policies_.size()) return false;
  for (size_t il = 0; il < policies_.size(); ++il)
    if (!policies_[il]->can_adopt_from(*base.policies_[il])) return false;
  return kind_.host_cache && &kind_ == &base.kind_ && options_.n_batch == base.options_.n_batch &&
         n_ctx_ == base.n_ctx_ && a.type == b.type && a.capacity == b.capacity && !options_.trace &&
         !base.options_.trace;
}

void Session::adopt_prefix(const Session& base) {
  if (!can_adopt_prefix(base))
    throw Error("internal: this session cannot take that session's prefill");
  book_ = base.book_;
  backend_->copy_rows(*base.backend_);
  n_past_ = base.n_past_;
  steps_ = base.steps_;
  evicted_ = base.evicted_;
  shift_ = base.shift_;
  for (size_t il = 0; il < policies_.size(); ++il) {
    policies_[il]->reset();                           // they rebuild what they keep from the cache,
    policies_[il]->adopt_state(*base.policies_[il]);  // or take it over from the base's
  }
  if (recall_) {  // the adopted keys join the dense reference (a shared prefix evicts nothing)
    recall_->clear();
    for (int64_t il = 0; il < int64_t(policies_.size()); ++il)
      recall_->appended(il, book_, backend_->host_rows(), 0, book_.used(il), 0, {});
  }
}

int64_t Session::prefill_boundary(int64_t total, int64_t min_last_chunk) const {
  // eval() cuts chunks of n_batch and shortens the one before the last so that the last holds
  // min_last_chunk: every multiple of n_batch with at least that many tokens after it is a cut.
  const int64_t b = options_.n_batch;
  return total > min_last_chunk ? (total - min_last_chunk) / b * b : 0;
}

namespace {

// LONGCTX_ADAPTIVE_THREADS=0 keeps every decode step on the whole team (engine/thread_governor.h).
bool adaptive_threads() {
  static const bool on = [] {
    const char* v = std::getenv("LONGCTX_ADAPTIVE_THREADS");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

// Contention belongs to the machine, not to a session: the decode steps of every session this
// thread runs (eval's modes and samples, bench's repetitions) share what the governor learned.
thread_local ThreadGovernor t_governor{1};

}  // namespace

std::span<const float> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t n_vocab = model_.config.n_vocab;
  if (int64_t(tokens.size()) > room()) {
    throw Error("the context holds " + std::to_string(n_ctx_) + " tokens; " +
                std::to_string(n_ctx_ - room()) + " are in use and " +
                std::to_string(tokens.size()) + " more do not fit (raise -c)");
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= n_vocab)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary");
  }
  logits_.resize(size_t((all_logits ? int64_t(tokens.size()) : 1) * n_vocab));
  // Decode steps on the CPU: the governor picks the team size (engine/thread_governor.h); the
  // kernels keep partitioning for the whole team, so the floats do not depend on its choice.
  const int team = omp_get_max_threads();
  const bool governed = tokens.size() == 1 && kind_.name == "cpu" && adaptive_threads();
  if (governed && t_governor.max_threads() != team) t_governor = ThreadGovernor(team);
  const cpu::PartitionWidth width(cpu::partition_threads());  // a caller's width, else the team
  const auto step_start = std::chrono::steady_clock::now();
  struct RestoreTeam {
    int team;
    ~RestoreTeam() { omp_set_num_threads(team); }
  } restore{team};
  if (governed) omp_set_num_threads(t_governor.next());
  // Chunks of n_batch; the last one holds at least what an observing policy needs, and exactly
  // the tail a policy asks for when that is no less (DHSA's dense queries).
  const int64_t total = int64_t(tokens.size());
  const int64_t exact = std::max(exact_last_chunk_, min_last_chunk_);
  const bool exact_tail = exact_last_chunk_ > 0 && total > exact && exact <= options_.n_batch;
  for (int64_t start = 0; start < total;) {
    int64_t n = std::min<int64_t>(options_.n_batch, total - start);
    int64_t after = total - start - n;
    if (exact_tail && after < exact)
      n = start < total - exact ? total - exact - start : total - start;
    else if (after > 0 && after < min_last_chunk_)
      n -= min_last_chunk_ - after;
    bool last_chunk = start + n == total;
    float* out = all_logits ? logits_.data() + start * n_vocab : logits_.data();
    forward_chunk(tokens.data() + start, n, out, all_logits || last_chunk, last_chunk && total > 1);
    start += n;
  }
  if (governed) {
    t_governor.record(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count());
  }
  return logits_;
}

}  // namespace longctx
