// SnapKV (Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation", NeurIPS 2024):
// when a prompt ends, the attention of its last `window` queries (the observation window) over the
// earlier tokens, summed over those queries and smoothed by a 1-D average pool, votes for the
// prefix tokens each KV head keeps: the best budget - window of them, plus the window itself.
// Decoding then runs over the compressed cache (new tokens are appended, never evicted). A
// following prompt (a chat's next turn) is compressed again when it ends. An eviction policy.
#include <algorithm>
#include <numeric>
#include <vector>

#include "engine/attention/registry.h"
#include "support/error.h"

namespace longctx {
namespace {

// Defaults of the official code (FasterDecoding/SnapKV, its monkeypatch config): window_size 32,
// kernel_size 5, pooling avgpool (PyTorch avg_pool1d, padding kernel/2, padded zeros counted). The
// budget (max_capacity_prompt) of 1024 is the smallest the paper reports on LongBench (1024-4096).
// A KV head's query heads are combined by their mean (as GQA ports of SnapKV do).
constexpr int64_t kDefaultWindow = 32;
constexpr int64_t kDefaultKernel = 5;
constexpr int64_t kDefaultBudget = 1024;

class SnapKvPolicy final : public AttentionPolicy {
 public:
  SnapKvPolicy(int64_t budget, int64_t window, int64_t kernel, int64_t sinks)
      : budget_(budget), window_(window), kernel_(kernel), sinks_(sinks) {}
  std::string name() const override {
    return "snapkv:budget=" + std::to_string(budget_) + ",window=" + std::to_string(window_) +
           ",kernel=" + std::to_string(kernel_) +
           (sinks_ ? ",sinks=" + std::to_string(sinks_) : "");
  }

  void plan(const StepInfo& step, Selection& out) override { select_all(step, out); }
  int64_t min_last_chunk() const override { return window_; }
  bool shares_prefill() const override { return true; }  // it acts when the prompt ends

  int64_t observe_queries(const StepInfo& step) override {
    bool compress =
        step.prompt_end && step.window == 0 && step.n_q >= window_ && step.n_cached > budget_;
    return compress ? window_ : 0;
  }

  // The vote, per KV head: prefix tokens in position order, their mass pooled, the top kept.
  void observe(const StepInfo& step, const float* mass) override {
    const int64_t cap = step.capacity();
    const int64_t prefix = step.n_cached - window_;  // the window is the newest window_ slots
    const int64_t keep = budget_ - window_;
    drops_.clear();
    per_head_ = prefix - keep;
    for (int64_t g = 0; g < step.n_kv_head; ++g) {
      const int32_t* pos = step.positions(g);
      order_.resize(size_t(prefix));
      std::iota(order_.begin(), order_.end(), 0);
      std::sort(order_.begin(), order_.end(),
                [&](int32_t a, int32_t b) { return pos[a] < pos[b]; });
      pooled_.assign(size_t(prefix), 0.0f);
      const int64_t half = kernel_ / 2;
      for (int64_t i = 0; i < prefix; ++i) {
        float sum = 0;
        for (int64_t j = std::max<int64_t>(0, i - half); j <= std::min(prefix - 1, i + half); ++j)
          sum += mass[g * cap + order_[size_t(j)]];
        pooled_[size_t(i)] = sum / float(kernel_);
        if (pos[order_[size_t(i)]] < sinks_) pooled_[size_t(i)] = INFINITY;  // sinks stay
      }
      top_k(pooled_.data(), prefix, keep, kept_);
      // Every prefix slot not kept leaves (kept_ indexes order_).
      is_kept_.assign(size_t(prefix), 0);
      for (int32_t i : kept_) is_kept_[size_t(order_[size_t(i)])] = 1;
      for (int32_t slot = 0; slot < int32_t(prefix); ++slot)
        if (!is_kept_[size_t(slot)]) drops_.push_back(slot);
    }
  }

  void evict(const StepInfo&, Eviction& out) override {
    if (per_head_ <= 0) return;
    out.drops.swap(drops_);
    out.per_head = per_head_;
    per_head_ = 0;
  }

 private:
  int64_t budget_, window_, kernel_, sinks_;
  int64_t per_head_ = 0;
  std::vector<int32_t> drops_, order_, kept_;
  std::vector<float> pooled_;
  std::vector<uint8_t> is_kept_;
};

}  // namespace

std::unique_ptr<AttentionPolicy> make_snapkv_policy(PolicyParams& params) {
  int64_t budget = params.integer("budget", kDefaultBudget, 2, int64_t(1) << 30);
  int64_t window = params.integer("window", kDefaultWindow, 1, 4096);
  int64_t kernel = params.integer("kernel", kDefaultKernel, 1, 63);
  int64_t sinks = params.integer("sinks", 0, 0, int64_t(1) << 20);
  if (kernel % 2 == 0)
    throw Error("--attn snapkv: kernel=" + std::to_string(kernel) + " must be odd");
  if (window + sinks >= budget) {
    throw Error("--attn snapkv: window (" + std::to_string(window) +
                ") plus sinks must be below budget=" + std::to_string(budget));
  }
  return std::make_unique<SnapKvPolicy>(budget, window, kernel, sinks);
}

}  // namespace longctx
