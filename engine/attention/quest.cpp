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
#include "support/error.h"

namespace longctx {
namespace {

// Defaults of the official code (mit-han-lab/Quest, evaluation/quest_attention.py): pages
// (chunk_size) of 16 tokens; the first two layers and the prefill run dense; every query head ranks
// the pages for itself (the reference repeats a GQA model's keys per query head, repeat_kv).
// Budgets of 256-4096 tokens were evaluated; 1024 is the middle of that range. Ours, as a choice:
// the newest page is always read (the reference ranks it with the others, and it nearly always
// wins), and at least three pages are read in all, as the reference's max(3, budget / page).
constexpr int64_t kDefaultPage = 16;
constexpr int64_t kDefaultBudget = 1024;
constexpr int64_t kDefaultDenseLayers = 2;

class QuestPolicy final : public AttentionPolicy {
 public:
  // per_query_head: each query head ranks pages for itself (the reference); otherwise a KV head's
  // query heads share one ranking by the largest bound among them (fewer keys read on a GQA model).
  QuestPolicy(int64_t page, int64_t budget, int64_t dense_layers, bool per_query_head)
      : page_(page),
        budget_(budget),
        dense_layers_(dense_layers),
        per_query_head_(per_query_head) {}
  bool reads_queries() const override { return true; }
  bool reads_keys() const override { return true; }
  // A device ranks pages itself only with one ranking per KV head (cuda_backend's planner).
  RankMethod rank_method() const override {
    return per_query_head_ ? RankMethod::None : RankMethod::BlockBounds;
  }
  std::string name() const override {
    return "quest:budget=" + std::to_string(budget_) + ",page=" + std::to_string(page_) +
           (dense_layers_ != kDefaultDenseLayers ? ",dense_layers=" + std::to_string(dense_layers_)
                                                 : "") +
           (per_query_head_ ? "" : ",heads=group");
  }

  // Prefill, the first dense_layers layers, layers with their own window and contexts within
  // budget run dense; the other steps choose pages.
  bool sparse_step(const StepInfo& step) const {
    return step.n_q == 1 && step.layer >= dense_layers_ && step.window == 0 &&
           step.n_cached > budget_;
  }

  bool device_ranking(const StepInfo& step, DeviceRanking& out) const override {
    if (per_query_head_ || !sparse_step(step)) return false;
    out = {RankMethod::BlockBounds, page_, budget_};
    return true;
  }

  // Summaries describe the keys that were in the cache: after a clear or a rewind the slots hold
  // other keys, so every page is summarised again.
  void reset() override { done_ = 0; }
  // Prefill is dense; the page summaries are rebuilt from the cache's keys.
  bool shares_prefill() const override { return true; }

  void plan(const StepInfo& step, Selection& out) override {
    if (!sparse_step(step)) {
      // Summaries kept current through the prefill where the keys are on the host, so the first
      // decode step does not summarise the whole prompt at once.
      if (step.window == 0 && step.layer >= dense_layers_ && step.rows->stores(step.layer))
        update_summaries(step);
      select_all(step, out);
      return;
    }
    update_summaries(step);
    const kernels::PageChoice choice = kernels::choose_pages(step.n_cached, page_, budget_);
    const int64_t candidates = choice.candidates;
    const int64_t group = step.n_head / step.n_kv_head;
    const int64_t hd = step.head_dim;
    // Each ranking: the query rows it scores with (one head, or a KV head's group) and its pages.
    const int64_t rankings = per_query_head_ ? step.n_head : step.n_kv_head;
    const int64_t rows = per_query_head_ ? 1 : group;
    out.clear();
    out.per_query_head = per_query_head_;
    for (int64_t r = 0; r < rankings; ++r) {
      const int64_t g = per_query_head_ ? r / group : r;  // the KV head whose pages are ranked
      scores_.assign(size_t(candidates), -INFINITY);
      float* scores = scores_.data();
      const float* q = step.q + r * rows * hd;
      const float* mins = min_[size_t(g)].data();
      const float* maxs = max_[size_t(g)].data();
#pragma omp parallel for schedule(static) if (candidates >= 256)
      for (int64_t p = 0; p < candidates; ++p)
        scores[p] = cpu::bound_dot_max(q, rows, mins + p * hd, maxs + p * hd, hd);
      top_k(scores_.data(), candidates, choice.pick, order_);
      // Neighbouring pages read as one span.
      for (int32_t p : order_) out.add(int32_t(p * page_), int32_t((p + 1) * page_));
      out.add(int32_t(choice.recent_begin), int32_t(step.n_cached));
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
          step.rows->key(step.layer, g, s, key_.data());
          for (int64_t d = 0; d < hd; ++d) {
            mn[d] = std::min(mn[d], key_[size_t(d)]);
            mx[d] = std::max(mx[d], key_[size_t(d)]);
          }
        }
      }
    }
    done_ = complete;
  }

  int64_t page_, budget_, dense_layers_;
  bool per_query_head_;
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
  int64_t dense_layers = params.integer("dense_layers", kDefaultDenseLayers, 0, int64_t(1) << 20);
  // Asked for, dense_layers covering every layer would run the model dense under Quest's name.
  const int64_t n_layer = params.context().n_layer;
  if (params.given("dense_layers") && n_layer > 0 && dense_layers >= n_layer) {
    throw Error("--attn quest: dense_layers=" + std::to_string(dense_layers) +
                " leaves none of this model's " + std::to_string(n_layer) +
                " layers sparse (at most " + std::to_string(n_layer - 1) + ")");
  }
  std::string heads = params.choice("heads", "query", {"query", "group"});
  return std::make_unique<QuestPolicy>(page, budget, dense_layers, heads == "query");
}

}  // namespace longctx
