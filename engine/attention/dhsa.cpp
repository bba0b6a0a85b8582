// DHSA (Xiong et al., "Long-Context Modeling with Dynamic Hierarchical Sparse Attention for
// On-Device LLMs", arXiv 2510.24606): the cache is cut into variable-length chunks at semantic
// boundaries; each chunk is represented by the mean of its keys scaled by sqrt(chunk size) (the
// paper's length-normalised aggregation); a block of queries is represented the same way; the
// chunk-to-chunk similarity, upsampled to every token of a chunk, ranks the chunks, and the best
// ones fill a token budget. The first chunk (sink) and the newest tokens (local) are always kept.
// Used in prefill (per block of `q_block` queries) and, with decode=sparse, in decode. A selection
// policy.
//
// Boundaries: the paper uses a small trained predictor, whose code labels its training boundaries
// by attention-mass ratios; no weights are published. Ours is a different rule, training-free: a
// chunk closes at the sharpest drop of cosine similarity between consecutive keys (mean over KV
// heads) between chunk_min and chunk_max tokens after its start. A closed chunk never changes.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/attention/registry.h"
#include "kernels/cpu/vec.h"
#include "support/error.h"

namespace longctx {
namespace {

// Defaults, ours where the paper gives none: budget 1024 tokens (the paper evaluates budgets down
// to 512), chunks of 8-64 tokens, a local window of 128 tokens, query blocks of 64 in prefill. As
// the paper's code does: the prompt is sparse but exactly its last 64 queries (dense_tail) and
// every decode step read densely (decode=sparse makes decoding sparse too), and one selection
// serves the whole layer, made from queries and chunk keys averaged over all heads (heads=layer;
// heads=query: each query head ranks for itself; heads=group: a KV head's query heads share the
// ranking by their max).
constexpr int64_t kDefaultBudget = 1024;
constexpr int64_t kDefaultChunkMin = 8;
constexpr int64_t kDefaultChunkMax = 64;
constexpr int64_t kDefaultLocal = 128;
constexpr int64_t kDefaultQueryBlock = 64;
constexpr int64_t kDefaultDenseTail = 64;

enum class Heads { Layer, Query, Group };

struct DhsaOptions {
  int64_t budget, chunk_min, chunk_max, local, q_block, dense_tail;
  bool sparse_decode;
  Heads heads;
};

class DhsaPolicy final : public AttentionPolicy {
 public:
  explicit DhsaPolicy(const DhsaOptions& o)
      : budget_(o.budget),
        min_(o.chunk_min),
        max_(o.chunk_max),
        local_(o.local),
        q_block_(o.q_block),
        dense_tail_(o.dense_tail),
        sparse_decode_(o.sparse_decode),
        heads_(o.heads) {}
  bool reads_queries() const override { return true; }
  bool reads_keys() const override { return true; }
  std::string name() const override {
    std::string n = "dhsa:budget=" + std::to_string(budget_) +
                    ",chunk_min=" + std::to_string(min_) + ",chunk_max=" + std::to_string(max_) +
                    ",local=" + std::to_string(local_);
    if (dense_tail_ != kDefaultDenseTail) n += ",dense_tail=" + std::to_string(dense_tail_);
    if (sparse_decode_) n += ",decode=sparse";
    if (heads_ != Heads::Layer) n += heads_ == Heads::Query ? ",heads=query" : ",heads=group";
    return n;
  }
  // A prompt's last chunk is exactly its dense tail, so that exactly those queries read densely
  // (the kernel's query blocks could not cut inside a chunk at any query).
  int64_t exact_last_chunk() const override { return dense_tail_; }

  void plan(const StepInfo& step, Selection& out) override {
    if (step.window > 0 || step.n_cached <= budget_) {
      select_all(step, out);
      return;
    }
    segment(step);  // boundaries follow every step, dense ones included
    if (step.n_q == 1 && !sparse_decode_) {
      select_all(step, out);
      return;
    }
    const int64_t blocks = step.n_q == 1 ? 1 : (step.n_q + q_block_ - 1) / q_block_;
    const int64_t group = step.n_head / step.n_kv_head;
    const bool per_query_head = heads_ == Heads::Query;
    const int64_t rankings = per_query_head ? step.n_head : step.n_kv_head;
    // A prompt's last dense_tail queries read everything. The session makes them the prompt's
    // last chunk (exact_last_chunk); when another layer's policy needs a longer last chunk, the
    // block holding the tail's first query is dense from its start.
    const int64_t tail_begin = step.prompt_end && step.n_q > 1 ? step.n_q - dense_tail_ : step.n_q;
    out.clear();
    out.q_block = step.n_q == 1 ? 0 : q_block_;
    out.per_query_head = per_query_head;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t q0 = b * q_block_, q1 = std::min(step.n_q, q0 + q_block_);
      // Slots equal positions here (DHSA never evicts): the block sees slots up to its last query.
      const int64_t visible = step.first_q_pos + q1;
      for (int64_t r = 0; r < rankings; ++r) {
        if (q1 > tail_begin) {
          out.add(0, int32_t(visible));
          out.end_head();
        } else if (heads_ == Heads::Layer && r > 0) {
          out.copy_head(out.offsets.size() - 2);  // the layer's one selection, for every KV head
        } else if (heads_ == Heads::Layer) {
          select_block(step, 0, step.n_head, q0, q1, visible, out);
        } else {
          const int64_t h0 = per_query_head ? r : r * group;
          select_block(step, h0, per_query_head ? 1 : group, q0, q1, visible, out);
        }
      }
    }
  }

  void reset() override {
    starts_.clear();
    sim_.clear();
    rep_.clear();
    closed_ = 0;
  }

 private:
  // Extends similarities and closes chunks over the slots not seen yet.
  void segment(const StepInfo& step) {
    const int64_t hd = step.head_dim, n_kv = step.n_kv_head;
    if (step.n_cached < int64_t(sim_.size())) reset();  // the session rewound
    if (rep_.empty()) rep_.resize(size_t(n_kv));
    key_.resize(size_t(hd));
    prev_.resize(size_t(n_kv * hd));
    for (int64_t i = int64_t(sim_.size()); i < step.n_cached; ++i) {
      double total = 0;
      for (int64_t g = 0; g < n_kv; ++g) {
        step.rows->key(step.layer, g, i, key_.data());
        float* prev = prev_.data() + g * hd;
        if (i > 0) {
          double dot = 0, na = 0, nb = 0;
          for (int64_t d = 0; d < hd; ++d) {
            dot += double(key_[size_t(d)]) * prev[d];
            na += double(key_[size_t(d)]) * key_[size_t(d)];
            nb += double(prev[d]) * prev[d];
          }
          total += dot / std::max(1e-30, std::sqrt(na * nb));
        }
        std::copy(key_.begin(), key_.end(), prev);
      }
      sim_.push_back(float(total / double(n_kv)));  // sim_[i]: keys i-1 and i
    }
    while (step.n_cached - closed_ > max_) {
      int64_t cut = closed_ + min_;
      for (int64_t i = closed_ + min_; i <= closed_ + max_; ++i)
        if (sim_[size_t(i)] < sim_[size_t(cut)]) cut = i;
      close_chunk(step, closed_, cut);
      closed_ = cut;
    }
  }

  void close_chunk(const StepInfo& step, int64_t begin, int64_t end) {
    const int64_t hd = step.head_dim;
    starts_.push_back(int32_t(begin));
    const float scale = std::sqrt(float(end - begin)) / float(end - begin);  // mean * sqrt(size)
    for (int64_t g = 0; g < step.n_kv_head; ++g) {
      auto& rep = rep_[size_t(g)];
      size_t at = rep.size();
      rep.resize(at + size_t(hd), 0.0f);
      for (int64_t s = begin; s < end; ++s) {
        step.rows->key(step.layer, g, s, key_.data());
        for (int64_t d = 0; d < hd; ++d) rep[at + size_t(d)] += key_[size_t(d)];
      }
      for (int64_t d = 0; d < hd; ++d) rep[at + size_t(d)] *= scale;
    }
  }

  int64_t chunk_end(size_t c) const { return c + 1 < starts_.size() ? starts_[c + 1] : closed_; }

  // The chunks query heads [h0, h0 + n_heads) of one KV head read for queries [q0, q1); with
  // heads=layer (n_heads = every head), the chunks of the whole layer: queries and chunk keys
  // averaged over all heads.
  void select_block(const StepInfo& step, int64_t h0, int64_t n_heads, int64_t q0, int64_t q1,
                    int64_t visible, Selection& out) {
    const int64_t hd = step.head_dim, g = h0 / (step.n_head / step.n_kv_head);
    const bool layer = heads_ == Heads::Layer;
    if (visible <= budget_ || starts_.empty()) {
      out.add(0, int32_t(visible));
      out.end_head();
      return;
    }
    // Local: the newest `local` tokens before the block, widened to whole chunks, and the block.
    int64_t local_begin = std::max<int64_t>(0, step.first_q_pos + q0 - local_);
    size_t n_cand = 0;  // chunks wholly before local_begin are candidates (chunk 0 is the sink)
    while (n_cand < starts_.size() && chunk_end(n_cand) <= local_begin) ++n_cand;
    local_begin = n_cand < starts_.size() ? std::min<int64_t>(local_begin, starts_[n_cand])
                                          : std::min<int64_t>(local_begin, closed_);
    const int64_t sink_end = n_cand > 0 ? chunk_end(0) : 0;
    int64_t room = budget_ - (visible - local_begin) - sink_end;
    // Block representation per query head: mean of the block's queries times sqrt(block size).
    score_.assign(n_cand, -INFINITY);
    const float qscale = std::sqrt(float(q1 - q0)) / float(q1 - q0);
    if (layer) {  // one ranking: the mean over every head of the queries and of the chunk keys
      qrep_.assign(size_t(hd), 0.0f);
      for (int64_t qi = q0; qi < q1; ++qi)
        for (int64_t h = 0; h < step.n_head; ++h) {
          const float* q = step.q + (qi * step.n_head + h) * hd;
          for (int64_t d = 0; d < hd; ++d) qrep_[size_t(d)] += q[d];
        }
      const float scale = qscale / float(step.n_head * step.n_kv_head);
      krep_.resize(size_t(hd));
      for (size_t c = 1; c < n_cand; ++c) {
        std::fill(krep_.begin(), krep_.end(), 0.0f);
        for (int64_t kg = 0; kg < step.n_kv_head; ++kg) {
          const float* r = rep_[size_t(kg)].data() + c * size_t(hd);
          for (int64_t d = 0; d < hd; ++d) krep_[size_t(d)] += r[d];
        }
        score_[c] = cpu::dot_f32(qrep_.data(), krep_.data(), hd) * scale;
      }
    }
    for (int64_t h = h0; h < h0 + n_heads && !layer; ++h) {
      qrep_.assign(size_t(hd), 0.0f);
      for (int64_t qi = q0; qi < q1; ++qi) {
        const float* q = step.q + (qi * step.n_head + h) * hd;
        for (int64_t d = 0; d < hd; ++d) qrep_[size_t(d)] += q[d];
      }
      for (size_t c = 1; c < n_cand; ++c) {  // heads of a group combine by max
        const float* r = rep_[size_t(g)].data() + c * size_t(hd);
        score_[c] = std::max(score_[c], cpu::dot_f32(qrep_.data(), r, hd) * qscale);
      }
    }
    order_.resize(n_cand > 0 ? n_cand - 1 : 0);
    std::iota(order_.begin(), order_.end(), 1);
    std::stable_sort(order_.begin(), order_.end(),
                     [&](int32_t a, int32_t b) { return score_[size_t(a)] > score_[size_t(b)]; });
    chosen_.clear();
    for (int32_t c : order_) {  // the best chunks that still fit the budget
      int64_t size = chunk_end(size_t(c)) - starts_[size_t(c)];
      if (size > room) continue;
      room -= size;
      chosen_.push_back(c);
    }
    std::sort(chosen_.begin(), chosen_.end());
    out.add(0, int32_t(sink_end));
    for (int32_t c : chosen_) out.add(starts_[size_t(c)], int32_t(chunk_end(size_t(c))));
    out.add(int32_t(local_begin), int32_t(visible));
    out.end_head();
  }

  int64_t budget_, min_, max_, local_, q_block_, dense_tail_;
  bool sparse_decode_;
  Heads heads_;
  std::vector<int32_t> starts_;          // closed chunks: start slots
  int64_t closed_ = 0;                   // slots before this are in closed chunks
  std::vector<float> sim_;               // cosine similarity of keys i-1 and i
  std::vector<std::vector<float>> rep_;  // per KV head: [chunk][head_dim]
  std::vector<float> key_, prev_, qrep_, krep_, score_;
  std::vector<int32_t> order_, chosen_;
};

}  // namespace

std::unique_ptr<AttentionPolicy> make_dhsa_policy(PolicyParams& params) {
  DhsaOptions o;
  o.budget = params.integer("budget", kDefaultBudget, 1, int64_t(1) << 30);
  o.chunk_min = params.integer("chunk_min", kDefaultChunkMin, 1, 4096);
  o.chunk_max = params.integer("chunk_max", kDefaultChunkMax, 1, 4096);
  o.local = params.integer("local", kDefaultLocal, 0, int64_t(1) << 30);
  o.q_block = params.integer("q_block", kDefaultQueryBlock, 8, 4096);
  o.dense_tail = params.integer("dense_tail", kDefaultDenseTail, 0, int64_t(1) << 30);
  o.sparse_decode = params.choice("decode", "dense", {"dense", "sparse"}) == "sparse";
  const std::string heads = params.choice("heads", "layer", {"layer", "query", "group"});
  o.heads = heads == "layer" ? Heads::Layer : heads == "query" ? Heads::Query : Heads::Group;
  if (o.chunk_min > o.chunk_max)
    throw Error("--attn dhsa: chunk_min=" + std::to_string(o.chunk_min) + " exceeds chunk_max");
  if (o.q_block % 8 != 0)
    throw Error("--attn dhsa: q_block=" + std::to_string(o.q_block) + " must be a multiple of 8");
  return std::make_unique<DhsaPolicy>(o);
}

}  // namespace longctx
