// H2O (Zhang et al., "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language
// Models", NeurIPS 2023): under a fixed KV budget, keep the recent window and the "heavy hitters",
// the tokens with the largest attention mass accumulated over every query so far; after each step
// the lowest-scoring older tokens leave the cache. Scores are kept per KV head (summed over its
// query heads), so each head keeps its own tokens. An eviction policy.
//
// A prompt is scored over all its queries before anything leaves, as the official real-drop code
// does (h2o_hf/utils_real_drop: the whole prompt's attention, summed over queries, then the top
// heavy hitters kept): the cache holds the prompt until it ends. prefill=chunked evicts after every
// prefill chunk instead, so memory never exceeds budget + one chunk (scores then come from the
// queries seen so far).
#include <algorithm>
#include <vector>

#include "engine/attention/registry.h"
#include "support/error.h"

namespace longctx {
namespace {

// Defaults: the official scripts (FMInference/H2O, h2o_hf) use heavy_ratio = recent_ratio = 0.1,
// i.e. equal heavy and recent shares; with a fixed budget that is recent = budget / 2. The budget
// of 1024 tokens is ours (the paper states budgets as ratios of the sequence). H2O has no sink
// rule of its own (sinks = 0); sinks=N pins the first N tokens, the sink rule every eviction policy
// here follows (docs/attention.md).
constexpr int64_t kDefaultBudget = 1024;

// The score H2O keeps: per KV head and cache slot, the attention mass every query so far put on
// the slot's token. The dense recorder below keeps it the same way, so H2O can take it over.
struct MassScore {
  std::vector<float> score;  // [kv_head][capacity], following the slots

  void add(const StepInfo& step, const float* mass) {
    const int64_t cap = step.capacity();
    score.resize(size_t(step.n_kv_head * cap));
    for (int64_t g = 0; g < step.n_kv_head; ++g) {
      float* s = score.data() + g * cap;
      std::fill(s + step.n_cached - step.n_q, s + step.n_cached, 0.0f);  // this step's tokens
      for (int64_t i = 0; i < step.n_cached; ++i) s[i] += mass[g * cap + i];
    }
  }
  // Every query is observed, but not on a model's own sliding-window layer (H2O leaves it alone).
  static int64_t queries(const StepInfo& step) { return step.window > 0 ? 0 : step.n_q; }
};

class MassRecorder final : public AttentionPolicy {
 public:
  std::string name() const override { return "dense:observe=mass"; }
  void plan(const StepInfo& step, Selection& out) override { select_all(step, out); }
  int64_t observe_queries(const StepInfo& step) override { return MassScore::queries(step); }
  void observe(const StepInfo& step, const float* mass) override { mass_.add(step, mass); }
  bool shares_prefill() const override { return true; }  // observing changes no output
  const MassScore& mass() const { return mass_; }

 private:
  MassScore mass_;
};

class H2oPolicy final : public AttentionPolicy {
 public:
  H2oPolicy(int64_t budget, int64_t recent, int64_t sinks, bool chunked, bool mean)
      : budget_(budget), recent_(recent), sinks_(sinks), chunked_(chunked), mean_(mean) {}
  std::string name() const override {
    return "h2o:budget=" + std::to_string(budget_) + ",recent=" + std::to_string(recent_) +
           (sinks_ ? ",sinks=" + std::to_string(sinks_) : "") +
           (chunked_ ? ",prefill=chunked" : "") + (mean_ ? ",score=mean" : "");
  }

  void plan(const StepInfo& step, Selection& out) override { select_all(step, out); }
  int64_t observe_queries(const StepInfo& step) override { return MassScore::queries(step); }
  void observe(const StepInfo& step, const float* mass) override { mass_.add(step, mass); }

  // Whole-prompt scoring reads every key and evicts nothing until the prompt ends: a prefix a
  // dense recorder evaluated is this policy's own, once the recorder's score is taken over.
  bool can_adopt_from(const AttentionPolicy& base) const override {
    return !chunked_ && dynamic_cast<const MassRecorder*>(&base) != nullptr;
  }
  void adopt_state(const AttentionPolicy& base) override {
    mass_ = dynamic_cast<const MassRecorder&>(base).mass();
  }

  void evict(const StepInfo& step, Eviction& out) override {
    const int64_t excess = step.n_cached - budget_;
    if (excess <= 0 || step.window > 0) return;
    if (!chunked_ && step.n_q > 1 && !step.prompt_end) return;  // the prompt goes on
    const int64_t cap = step.capacity();
    const int64_t newest = step.first_q_pos + step.n_q - 1;
    out.per_head = excess;
    for (int64_t g = 0; g < step.n_kv_head; ++g) {
      const int32_t* pos = step.positions(g);
      float* s = mass_.score.data() + g * cap;
      // Candidates: neither a sink nor among the `recent` newest tokens.
      candidates_.clear();
      for (int32_t i = 0; i < int32_t(step.n_cached); ++i) {
        if (pos[i] >= sinks_ && newest - pos[i] >= recent_) candidates_.push_back(i);
      }
      if (int64_t(candidates_.size()) < excess)
        throw Error("internal: h2o has fewer candidates than tokens to evict");
      // score=mean: the mass over the number of queries that saw the token (kvpress's
      // ObservedAttentionPress), so late tokens are not penalised for being seen by fewer.
      auto key = [&](int32_t i) { return mean_ ? s[i] / float(newest - pos[i] + 1) : s[i]; };
      std::nth_element(candidates_.begin(), candidates_.begin() + (excess - 1), candidates_.end(),
                       [&](int32_t a, int32_t b) {
                         const float ka = key(a), kb = key(b);
                         return ka < kb || (ka == kb && a < b);
                       });
      candidates_.resize(size_t(excess));
      std::sort(candidates_.begin(), candidates_.end());
      out.drops.insert(out.drops.end(), candidates_.begin(), candidates_.end());
    }
  }

  // The scores follow their tokens exactly as the book moved them.
  void moved(const StepInfo& step, const std::vector<KvMove>& moves) override {
    const int64_t cap = step.capacity();
    for (const KvMove& m : moves)
      mass_.score[size_t(m.head * cap + m.to)] = mass_.score[size_t(m.head * cap + m.from)];
  }

  // Whole-prompt scoring holds the prompt first: no bound below the context.
  int64_t max_held() const override { return chunked_ ? budget_ : -1; }

 private:
  int64_t budget_, recent_, sinks_;
  bool chunked_, mean_;
  MassScore mass_;
  std::vector<int32_t> candidates_;
};

}  // namespace

std::unique_ptr<AttentionPolicy> make_mass_recording_policy() {
  return std::make_unique<MassRecorder>();
}

std::unique_ptr<AttentionPolicy> make_h2o_policy(PolicyParams& params) {
  int64_t budget = params.integer("budget", kDefaultBudget, 2, int64_t(1) << 30);
  int64_t recent = params.integer("recent", budget / 2, 0, int64_t(1) << 30);
  int64_t sinks = params.integer("sinks", 0, 0, int64_t(1) << 20);
  if (recent + sinks >= budget) {
    throw Error("--attn h2o: recent (" + std::to_string(recent) + ") plus sinks (" +
                std::to_string(sinks) +
                ") must leave room for heavy hitters in budget=" + std::to_string(budget));
  }
  bool chunked = params.choice("prefill", "whole", {"whole", "chunked"}) == "chunked";
  bool mean = params.choice("score", "sum", {"sum", "mean"}) == "mean";
  return std::make_unique<H2oPolicy>(budget, recent, sinks, chunked, mean);
}

}  // namespace longctx
