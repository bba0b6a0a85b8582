// One attention step of one layer, between the cache append and the output projection: the
// layer's policy plans what each query reads (or, where the backend ranks on the device, hands it
// the ranking), the backend attends, the policy observes the statistics it asked for and names
// what leaves the cache, and the eviction is carried out: the book moves positions, the backend
// moves its rows the same way (re-rotating keys when the policy re-positions them).
#include <chrono>
#include <cmath>

#include "engine/session.h"

namespace longctx {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

// The attention policy's steps of one layer, between the cache append and the output projection.
void Session::attention_step(int64_t il, int64_t n, bool prompt_end) {
  const ModelConfig& c = model_.config;
  backend_->mark_attention(true);
  AttentionPolicy& policy = *policies_[size_t(il)];
  StepInfo step;
  step.layer = il;
  step.n_kv_head = c.n_head_kv;
  step.n_cached = book_.used(il);
  step.first_q_pos = layer_pos_[0];
  step.window = c.layer_is_local[size_t(il)] ? c.sliding_window : 0;
  step.prompt_end = prompt_end;
  step.n_q = n;
  step.n_head = c.n_head;
  step.head_dim = c.head_dim;
  step.scale = c.attention_scale;
  step.book = &book_;
  step.rows = &backend_->host_rows();
  AttendStep a;
  a.layer = il;
  a.n = n;
  a.window = step.window;
  a.selection = &selection_;
  DeviceRanking ranking;
  AttentionTrace* trace = options_.trace.get();
  const auto unshift = [&](float* v, int64_t by) { this->unshift(il, v, by); };
  if (recall_)  // this step's keys join the dense reference, at their own positions
    recall_->appended(il, book_, backend_->host_rows(), step.n_cached - n, n, shift_[size_t(il)],
                      unshift);
  if (!trace && !recall_ && kind_.can_rank(policy.rank_method()) &&
      policy.device_ranking(step, ranking)) {
    backend_->attend_ranked(a, ranking, book_);  // ranked next to the keys
  } else {
    step.q = policy.reads_queries() ? backend_->read(Act::Q, n * c.n_head * c.head_dim) : nullptr;
    auto t0 = Clock::now();
    policy.plan(step, selection_);
    if (trace) trace->reads(steps_, pos_[0], n, il, c.n_head, selection_, book_);
    const int64_t observed = std::min(n, policy.observe_queries(step));
    planning_ms_ += ms_since(t0);
    if (recall_ && n == 1) {  // a measurement beside the policy's work, not part of it
      recall_->measure(il, backend_->read(Act::Q, c.n_head * c.head_dim), step.scale, selection_,
                       book_, shift_[size_t(il)], unshift);
      if (trace) trace->recall(steps_, pos_[0], il, recall_->per_head());
    }
    a.lse = observed > 0;
    a.mass_max = policy.mass_group_max();
    backend_->attend(a, book_);
    if (observed > 0) {
      mass_.assign(size_t(c.n_head_kv * book_.capacity(il)), 0.0f);
      backend_->attention_mass(a, book_, n - observed, mass_.data());
      t0 = Clock::now();
      policy.observe(step, mass_.data());
      planning_ms_ += ms_since(t0);
    }
  }
  const auto t0 = Clock::now();
  eviction_.clear();
  step.n_cached = book_.used(il);
  policy.evict(step, eviction_);
  if (trace) trace->eviction(steps_, pos_[0], n, il, eviction_, book_, shift_[size_t(il)]);
  apply_eviction(step, policy, eviction_);
  planning_ms_ += ms_since(t0);
  backend_->mark_attention(false);
}

void Session::apply_eviction(const StepInfo& step, AttentionPolicy& policy, const Eviction& ev) {
  const ModelConfig& c = model_.config;
  const int64_t il = step.layer;
  // The book moves positions and reports the moves; the backend moves its rows the same way, and
  // the policy whatever it keeps per slot.
  if (ev.per_head > 0) {
    book_.drop(il, ev.drops, ev.per_head, moves_);
    evicted_ = true;
    backend_->replay(il, moves_, nullptr);
    policy.moved(step, moves_);
    if (recall_) recall_->moved(il, moves_, book_.capacity(il));
  }
  if (ev.count <= 0) return;
  evicted_ = true;
  if (!ev.reposition) {
    book_.evict_range(il, ev.begin, ev.count, 0, moves_);
    backend_->replay(il, moves_, nullptr);
    policy.moved(step, moves_);
    if (recall_) recall_->moved(il, moves_, book_.capacity(il));
    return;
  }
  // Every moved key turns back by the same angles: compute them once per eviction.
  const int64_t half = c.n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    double angle = -double(ev.count) * double(rope_[size_t(il)].inv_freq[size_t(i)]);
    rotation_[size_t(i)] = float(std::cos(angle));
    rotation_[size_t(half + i)] = float(std::sin(angle));
  }
  book_.evict_range(il, ev.begin, ev.count, int32_t(ev.count), moves_);
  const KeyRotation rotation{rotation_.data(), rotation_.data() + half, int32_t(ev.count)};
  backend_->replay(il, moves_, &rotation);
  policy.moved(step, moves_);
  if (recall_) recall_->moved(il, moves_, book_.capacity(il));
  shift_[size_t(il)] += ev.count;
}

}  // namespace longctx
