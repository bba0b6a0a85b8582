// Attention recall: at each decode step, the share of the dense attention's probability mass that
// falls on the keys the policy's attention actually read. The dense attention is the same query's
// over every token the session ever cached (an eviction policy is scored against the cache it no
// longer holds: the keys are kept here, for this measurement only); the keys read are the step's
// selection over what the cache holds. Dense attention scores 1 exactly, a selection policy
// the mass its spans cover, an eviction policy the mass its kept tokens carry. Per query head of
// every layer without a sliding window of its own, at decode steps only (prefill is dense for
// every policy but DHSA). Costs one dense attention per decode step and a float copy of every
// key: n_layer x n_kv_head x context x head_dim x 4 bytes (SmolLM2-135M at 4k: 94 MiB).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/attention/policy.h"
#include "engine/kv_book.h"
#include "engine/kv_rows.h"

namespace longctx {

class AttentionRecall {
 public:
  // `measured[il]`: whether layer il is measured (not a sliding-window layer). softcap: the
  // model's attention logit soft-cap (0: none).
  AttentionRecall(int64_t n_head, int64_t n_kv_head, int64_t head_dim, float softcap,
                  std::vector<bool> measured);
  void clear();
  // Slots [first, first + n) of layer il were just written (every head): their keys join the
  // dense reference. `unshift(key, by)` turns a key rotated `by` positions early back to its own
  // position (a re-positioned cache's, streaming's); `shift` is the layer's shift now.
  void appended(int64_t il, const KvBook& book, const KvRows& rows, int64_t first, int64_t n,
                int64_t shift, const std::function<void(float*, int64_t)>& unshift);
  // The book moved layer il's slots (eviction): the slots' tokens follow.
  void moved(int64_t il, const std::vector<KvMove>& moves, int64_t capacity);
  // The session forgot every token from `n` on (no eviction happened).
  void truncate(int64_t n);
  // One decode step of layer il: `q` the query ([n_head][head_dim], rotated at the cache's
  // positions, unscaled), `sel` what the policy read. Fills per_head() and adds to the mean.
  // Every slot read must hold the token this record says (its position as the book has it, given
  // the re-positionings since it arrived), else an internal error: the record lost its tokens.
  void measure(int64_t il, const float* q, float scale, const Selection& sel, const KvBook& book,
               int64_t shift, const std::function<void(float*, int64_t)>& unshift);
  const std::vector<double>& per_head() const { return last_; }
  // The mean over every measured (step, layer, query head), and how many there were.
  double mean() const { return count_ ? sum_ / double(count_) : 0.0; }
  int64_t count() const { return count_; }
  void reset_mean() { sum_ = 0, count_ = 0; }

 private:
  int64_t n_head_, n_kv_, dim_;
  float softcap_;
  std::vector<bool> measured_;
  // Per layer: every key in the order it arrived, per KV head ([g][token][dim], turned to its own
  // position), and for every cache slot the token it holds ([g][slot]).
  std::vector<std::vector<std::vector<float>>> keys_;
  std::vector<std::vector<int32_t>> token_of_slot_;
  // Per layer and token: its position in the book when it arrived, and the layer's shift then.
  std::vector<std::vector<int32_t>> arrival_pos_, arrival_shift_;
  std::vector<int64_t> tokens_;
  std::vector<float> key_, q_;
  std::vector<double> weights_, last_;
  std::vector<uint8_t> read_;
  double sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace longctx
