// Quest (Tang et al., "Quest: Query-Aware Sparsity for Efficient Long-Context LLM Inference",
// ICML 2024): keys are grouped in pages summarised by their element-wise minimum and maximum. A
// query bounds a page's largest q.k by sum_d max(q_d * min_d, q_d * max_d) (the paper's criticality
// estimate), and decoding reads only the best pages within a token budget, plus the newest page.
// A selection policy: every token stays in the cache; it saves time, not memory.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/attention/registry.h"
#include "kernels/common/page_selection.h"
#include "kernels/cpu/vec.h"

namespace longctx {
namespace {

// Defaults from the paper's evaluation: pages of 16 tokens; budgets of 256-4096 tokens were
// evaluated, 1024 is the middle of that range. (The paper also leaves the first two layers dense;
// configs/quest.json does that.)
constexpr int64_t kDefaultPage = 16;
constexpr int64_t kDefaultBudget = 1024;

class QuestPolicy final : public AttentionPolicy {
 public:
  QuestPolicy(int64_t page, int64_t budget) : page_(page), budget_(budget) {}
  bool reads_queries() const override { return true; }
  bool reads_keys() const override { return true; }
  bool plans_pages() const override { return true; }
  std::string name() const override {
    return "quest:budget=" + std::to_string(budget_) + ",page=" + std::to_string(page_);
  }

  // Prefill, layers with their own window and contexts within budget run dense; the other steps
  // choose pages, which a device may do itself.
  bool page_plan(const StepInfo& step, PagePlan& out) const override {
    if (step.n_q != 1 || step.window > 0 || step.n_cached <= budget_) return false;
    out = {page_, budget_};
    return true;
  }

  // Summaries describe the keys that were in the cache: after a clear or a rewind the slots hold
  // other keys, so every page is summarised again.
  void reset() override { done_ = 0; }

  void plan(const StepInfo& step, Selection& out) override {
    PagePlan pages;
    if (!page_plan(step, pages)) {
      // Summaries kept current through the prefill where the keys are on the host, so the first
      // decode step does not summarise the whole prompt at once.
      if (step.window == 0 && step.cache->stores_rows(step.layer)) update_summaries(step);
      select_all(step, out);
      return;
    }
    update_summaries(step);
    const kernels::PageChoice choice = kernels::choose_pages(step.n_cached, page_, budget_);
    const int64_t recent_begin = choice.recent_begin, candidates = choice.candidates;
    const int64_t pick = choice.pick;
    const int64_t group = step.n_head / step.n_kv_head;
    const int64_t hd = step.head_dim;
    out.clear();
    for (int64_t g = 0; g < step.n_kv_head; ++g) {
      scores_.assign(size_t(candidates), -INFINITY);
      float* scores = scores_.data();
      const float* mins = min_[size_t(g)].data();
      const float* maxs = max_[size_t(g)].data();
#pragma omp parallel for schedule(static) if (candidates >= 256)
      for (int64_t p = 0; p < candidates; ++p)  // a group's heads combine by max (RefreshKV)
        scores[p] =
            cpu::bound_dot_max(step.q + g * group * hd, group, mins + p * hd, maxs + p * hd, hd);
      top_k(scores_.data(), candidates, pick, order_);
      // Neighbouring pages read as one span.
      for (int32_t p : order_) out.add(int32_t(p * page_), int32_t((p + 1) * page_));
      out.add(int32_t(recent_begin), int32_t(step.n_cached));
      out.end_head();
    }
  }

 private:
  // Page minima and maxima of every complete page not summarised yet (keys never change).
  void update_summaries(const StepInfo& step) {
    const int64_t hd = step.head_dim;
    min_.resize(size_t(step.n_kv_head));
    max_.resize(size_t(step.n_kv_head));
    const int64_t complete = step.n_cached / page_;
    key_.resize(size_t(hd));
    done_ = std::min(done_, complete);
    for (int64_t g = 0; g < step.n_kv_head; ++g) {
      min_[size_t(g)].resize(size_t(complete * hd));
      max_[size_t(g)].resize(size_t(complete * hd));
      for (int64_t p = done_; p < complete; ++p) {
        float* mn = min_[size_t(g)].data() + p * hd;
        float* mx = max_[size_t(g)].data() + p * hd;
        std::fill(mn, mn + hd, INFINITY);
        std::fill(mx, mx + hd, -INFINITY);
        for (int64_t s = p * page_; s < (p + 1) * page_; ++s) {
          step.cache->key(step.layer, g, s, key_.data());
          for (int64_t d = 0; d < hd; ++d) {
            mn[d] = std::min(mn[d], key_[size_t(d)]);
            mx[d] = std::max(mx[d], key_[size_t(d)]);
          }
        }
      }
    }
    done_ = complete;
  }

  int64_t page_, budget_;
  int64_t done_ = 0;
  std::vector<std::vector<float>> min_, max_;  // per KV head: [page][head_dim]
  std::vector<float> scores_;
  std::vector<int32_t> order_;
  std::vector<float> key_;
};

}  // namespace

std::unique_ptr<AttentionPolicy> make_quest_policy(PolicyParams& params) {
  int64_t page = params.integer("page", kDefaultPage, 1, 4096);
  int64_t budget = params.integer("budget", kDefaultBudget, 1, int64_t(1) << 30);
  return std::make_unique<QuestPolicy>(page, budget);
}

}  // namespace longctx
