// StreamingLLM (Xiao et al., "Efficient Streaming Language Models with Attention Sinks", ICLR
// 2024): keep the first `sinks` tokens (attention sinks) and the most recent `window` tokens;
// everything between leaves the cache for good, and the kept tokens get positions inside the cache
// (the paper's rolling cache): later keys are re-rotated down by the number of evicted tokens. An
// eviction policy: it saves memory and loses tokens.
#include <algorithm>

#include "engine/attention/registry.h"

namespace longctx {
namespace {

// Defaults of the official code (streaming-llm, run_streaming_llama.py): start_size 4,
// recent_size 2000.
constexpr int64_t kDefaultSinks = 4;
constexpr int64_t kDefaultWindow = 2000;
// Ours: while decoding, evict once 32 tokens have fallen out of the window instead of one per step.
// Attention still reads exactly sinks + window; only the compaction and re-rotation of the window's
// keys (the cost of a step) is shared by 32 steps. evict_every=1 is the paper's per-step roll.
constexpr int64_t kDefaultEvictEvery = 32;

class StreamingPolicy final : public AttentionPolicy {
 public:
  StreamingPolicy(int64_t sinks, int64_t window, int64_t every)
      : sinks_(sinks), window_(window), every_(every) {}
  std::string name() const override {
    return "streaming:sinks=" + std::to_string(sinks_) + ",window=" + std::to_string(window_) +
           (every_ != kDefaultEvictEvery ? ",evict_every=" + std::to_string(every_) : "");
  }

  // Sinks plus the recent window. A prefill chunk shares one window that starts `window` before its
  // first query, so its later queries see up to window + chunk - 1 recent keys (decoding, one query
  // at a time, sees exactly `window`).
  void plan(const StepInfo& step, Selection& out) override {
    const int64_t recent_begin = std::max(sinks_, step.n_cached - step.n_q - window_ + 1);
    if (recent_begin <= sinks_ || step.window > 0) {
      select_all(step, out);
      return;
    }
    out.clear();
    for (int64_t g = 0; g < step.n_kv_head; ++g) {
      out.add(0, int32_t(std::min(sinks_, step.n_cached)));
      out.add(int32_t(recent_begin), int32_t(step.n_cached));
      out.end_head();
    }
  }

  void evict(const StepInfo& step, Eviction& out) override {
    const int64_t excess = step.n_cached - (sinks_ + window_);
    if (excess <= 0 || step.window > 0 || (step.n_q == 1 && excess < every_)) return;
    out.begin = sinks_;
    out.count = excess;
    out.reposition = true;
  }

  int64_t max_held() const override { return sinks_ + window_ + every_ - 1; }

 private:
  int64_t sinks_, window_, every_;
};

}  // namespace

std::unique_ptr<AttentionPolicy> make_streaming_policy(PolicyParams& params) {
  int64_t sinks = params.integer("sinks", kDefaultSinks, 0, int64_t(1) << 20);
  int64_t window = params.integer("window", kDefaultWindow, 1, int64_t(1) << 30);
  int64_t every = params.integer("evict_every", kDefaultEvictEvery, 1, 4096);
  return std::make_unique<StreamingPolicy>(sinks, window, every);
}

}  // namespace longctx
