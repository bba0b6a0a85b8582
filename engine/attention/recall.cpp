#include "engine/attention/recall.h"

#include <algorithm>
#include <cmath>

#include "support/error.h"

namespace longctx {

AttentionRecall::AttentionRecall(int64_t n_head, int64_t n_kv_head, int64_t head_dim, float softcap,
                                 std::vector<bool> measured)
    : n_head_(n_head),
      n_kv_(n_kv_head),
      dim_(head_dim),
      softcap_(softcap),
      measured_(std::move(measured)),
      keys_(measured_.size(), std::vector<std::vector<float>>(size_t(n_kv_head))),
      token_of_slot_(measured_.size()),
      arrival_pos_(measured_.size()),
      arrival_shift_(measured_.size()),
      tokens_(measured_.size(), 0),
      key_(size_t(head_dim)),
      q_(size_t(head_dim)) {}

void AttentionRecall::clear() {
  for (size_t il = 0; il < keys_.size(); ++il) {
    for (auto& k : keys_[il]) k.clear();
    token_of_slot_[il].clear();
    arrival_pos_[il].clear();
    arrival_shift_[il].clear();
    tokens_[il] = 0;
  }
}

void AttentionRecall::appended(int64_t il, const KvBook& book, const KvRows& rows, int64_t first,
                               int64_t n, int64_t shift,
                               const std::function<void(float*, int64_t)>& unshift) {
  if (!measured_[size_t(il)]) return;
  const int64_t cap = book.capacity(il);
  auto& slots = token_of_slot_[size_t(il)];
  slots.resize(size_t(n_kv_ * cap), -1);
  for (int64_t i = 0; i < n; ++i) {  // every head appends the same positions
    arrival_pos_[size_t(il)].push_back(book.positions(il)[first + i]);
    arrival_shift_[size_t(il)].push_back(int32_t(shift));
  }
  for (int64_t g = 0; g < n_kv_; ++g) {
    auto& keys = keys_[size_t(il)][size_t(g)];
    for (int64_t i = 0; i < n; ++i) {
      rows.key(il, g, first + i, key_.data());  // as the cache holds it (f16, q8_0, q4_0)
      if (shift != 0) unshift(key_.data(), shift);
      keys.insert(keys.end(), key_.begin(), key_.end());
      slots[size_t(g * cap + first + i)] = int32_t(tokens_[size_t(il)] + i);
    }
  }
  tokens_[size_t(il)] += n;
}

void AttentionRecall::moved(int64_t il, const std::vector<KvMove>& moves, int64_t capacity) {
  if (!measured_[size_t(il)]) return;
  auto& slots = token_of_slot_[size_t(il)];
  for (const KvMove& m : moves)
    slots[size_t(m.head * capacity + m.to)] = slots[size_t(m.head * capacity + m.from)];
}

void AttentionRecall::truncate(int64_t n) {
  for (size_t il = 0; il < keys_.size(); ++il) {
    if (tokens_[il] <= n) continue;
    for (auto& k : keys_[il]) k.resize(size_t(n * dim_));
    arrival_pos_[il].resize(size_t(n));
    arrival_shift_[il].resize(size_t(n));
    tokens_[il] = n;
  }
}

void AttentionRecall::measure(int64_t il, const float* q, float scale, const Selection& sel,
                              const KvBook& book, int64_t shift,
                              const std::function<void(float*, int64_t)>& unshift) {
  const int64_t capacity = book.capacity(il);
  last_.clear();
  if (!measured_[size_t(il)]) return;
  const int64_t group = n_head_ / n_kv_;
  const int64_t tokens = tokens_[size_t(il)];
  const auto& slots = token_of_slot_[size_t(il)];
  for (int64_t h = 0; h < n_head_; ++h) {
    const int64_t g = h / group;
    std::copy(q + h * dim_, q + (h + 1) * dim_, q_.begin());
    if (shift != 0) unshift(q_.data(), shift);  // the query at its own position, as the keys
    // The keys this head read, as tokens.
    read_.assign(size_t(tokens), 0);
    const int64_t i = sel.per_query_head ? h : g;
    for (int32_t s = sel.offsets[size_t(i)]; s < sel.offsets[size_t(i) + 1]; ++s)
      for (int32_t slot = sel.spans[size_t(s)].begin; slot < sel.spans[size_t(s)].end; ++slot) {
        const int32_t t = slots[size_t(g * capacity + slot)];
        const int32_t pos = book.positions(il)[g * capacity + slot];
        // A token keeps its position, or (re-positioned) moved down with every shift since.
        if (t < 0 || t >= tokens ||
            (pos != arrival_pos_[size_t(il)][size_t(t)] &&
             pos != arrival_pos_[size_t(il)][size_t(t)] -
                        (int32_t(shift) - arrival_shift_[size_t(il)][size_t(t)])))
          throw Error("internal: attention recall lost the token of layer " + std::to_string(il) +
                      ", head " + std::to_string(g) + ", slot " + std::to_string(slot));
        read_[size_t(t)] = 1;
      }
    // The dense softmax over every token, in double; read and total summed in the same order, so
    // reading everything is exactly 1.
    const float* k = keys_[size_t(il)][size_t(g)].data();
    weights_.resize(size_t(tokens));
    double max = -INFINITY;
    for (int64_t t = 0; t < tokens; ++t) {
      double dot = 0;
      for (int64_t d = 0; d < dim_; ++d) dot += double(q_[size_t(d)]) * double(k[t * dim_ + d]);
      double logit = dot * double(scale);
      if (softcap_ > 0) logit = double(softcap_) * std::tanh(logit / double(softcap_));
      weights_[size_t(t)] = logit;
      max = std::max(max, logit);
    }
    double total = 0, covered = 0;
    for (int64_t t = 0; t < tokens; ++t) {
      const double e = std::exp(weights_[size_t(t)] - max);
      total += e;
      covered += read_[size_t(t)] ? e : 0.0;
    }
    const double r = covered / total;
    last_.push_back(r);
    sum_ += r;
    ++count_;
  }
}

}  // namespace longctx
