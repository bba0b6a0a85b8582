// Dense attention: every KV head attends to the whole cache (the kernel applies the causal mask
// and the layer's own sliding window). A layer with a window skips keys no query can see. Also the
// helpers every policy shares.
#include <algorithm>
#include <numeric>

#include "engine/attention/policy.h"

namespace longctx {
namespace {

class DensePolicy final : public AttentionPolicy {
 public:
  std::string name() const override { return "dense"; }
  void plan(const StepInfo& step, Selection& out) override { select_all(step, out); }
  bool shares_prefill() const override { return true; }
};

// Keys older than the window are never read again: they leave the cache once `kEvictEvery` of them
// have piled up (compaction amortised), so such a layer holds window + kEvictEvery - 1 tokens at
// most, as llama.cpp's SWA cache does. Positions stay the tokens' own.
constexpr int64_t kEvictEvery = 64;

class SlidingWindowPolicy final : public AttentionPolicy {
 public:
  explicit SlidingWindowPolicy(int64_t window) : window_(window) {}
  std::string name() const override { return "sliding-window:" + std::to_string(window_); }
  void plan(const StepInfo& step, Selection& out) override { select_all(step, out); }
  void evict(const StepInfo& step, Eviction& out) override {
    if (step.n_cached == 0) return;
    const int64_t newest = step.first_q_pos + step.n_q - 1;
    const int64_t dead =
        newest - window_ - step.positions(0)[0] + 1;  // slots hold runs of positions
    if (dead <= 0 || (step.n_q == 1 && dead < kEvictEvery)) return;
    out.begin = 0;
    out.count = std::min(dead, step.n_cached);
  }
  int64_t max_held() const override { return window_ + kEvictEvery - 1; }
  // It evicts while a prompt runs, but the layer runs it in every session of the model alike.
  bool shares_prefill() const override { return true; }

 private:
  int64_t window_;
};

}  // namespace

void Selection::add(int32_t begin, int32_t end) {
  if (begin >= end) return;
  bool same_head = offsets.back() < int32_t(spans.size());
  if (same_head && spans.back().end == begin) {
    spans.back().end = end;
  } else {
    spans.push_back({begin, end});
  }
}

void Selection::copy_head(size_t head) {
  for (int32_t s = offsets[head], end = offsets[head + 1]; s < end; ++s) {
    const kernels::KeySpan span = spans[size_t(s)];
    spans.push_back(span);
  }
  end_head();
}

int64_t Selection::keys(int64_t head) const {
  int64_t n = 0;
  for (int32_t s = offsets[size_t(head)]; s < offsets[size_t(head) + 1]; ++s)
    n += spans[size_t(s)].end - spans[size_t(s)].begin;
  return n;
}

void select_all(const StepInfo& step, Selection& out) {
  out.clear();
  // Layers with a window (sliding-window policy) hold a run of positions in slot order, so keys
  // older than the first query's window are dead.
  int32_t begin = 0;
  if (step.window > 0 && step.n_cached > 0) {
    begin =
        int32_t(std::max<int64_t>(0, step.first_q_pos - step.window + 1 - step.positions(0)[0]));
    begin = std::min<int32_t>(begin, int32_t(step.n_cached));
  }
  for (int64_t g = 0; g < step.n_kv_head; ++g) {
    out.spans.push_back({begin, int32_t(step.n_cached)});
    out.end_head();
  }
}

void top_k(const float* scores, int64_t n, int64_t k, std::vector<int32_t>& out) {
  k = std::clamp<int64_t>(k, 0, n);
  out.resize(size_t(n));
  std::iota(out.begin(), out.end(), 0);
  std::nth_element(out.begin(), out.begin() + k, out.end(), [&](int32_t a, int32_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  });
  out.resize(size_t(k));
  std::sort(out.begin(), out.end());
}

std::unique_ptr<AttentionPolicy> make_dense_policy() {
  return std::make_unique<DensePolicy>();
}

std::unique_ptr<AttentionPolicy> make_sliding_window_policy(int64_t window) {
  return std::make_unique<SlidingWindowPolicy>(window);
}

}  // namespace longctx
