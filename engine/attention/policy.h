// The attention-policy seam. Per layer and step the layer loop asks the layer's policy which key
// spans each KV head attends to; the one span-sparse kernel executes the answer. Dense is the
// first policy; later strategies (streaming, recycled, DHSA, Quest, H2O, SnapKV) plug in here
// without touching the layer loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"

namespace longctx {

// The key spans per KV head for one step: spans of head g are
// spans[offsets[g] .. offsets[g+1]).
struct Selection {
  std::vector<cpu::KeySpan> spans;
  std::vector<int32_t> offsets;
  void clear() {
    spans.clear();
    offsets.assign(1, 0);
  }
};

struct StepInfo {
  int64_t layer = 0;
  int64_t n_kv_head = 0;
  int64_t n_cached = 0;     // slots in use, this step's keys included
  int64_t first_q_pos = 0;  // position of the step's first query
  int64_t window = 0;       // the layer's own sliding window (0 = none)
  // What query-aware policies read: the step's queries (rotated, unscaled)
  // [n_q][n_head][head_dim] and the layer's cached keys [n_kv_head][capacity][head_dim] (half).
  const float* q = nullptr;
  int64_t n_q = 0, n_head = 0, head_dim = 0;
  const uint16_t* keys = nullptr;
  int64_t capacity = 0;
};

// Slots a policy drops after a step: [begin, begin + count); later slots move down. With
// reposition, their positions drop by count too and their keys are re-rotated to match
// (StreamingLLM's positions inside the cache; also llama.cpp-style context shift).
struct Eviction {
  int64_t begin = 0, count = 0;
  bool reposition = false;
};

class AttentionPolicy {
 public:
  virtual ~AttentionPolicy() = default;
  virtual std::string name() const = 0;
  virtual void plan(const StepInfo& step, Selection& out) = 0;
  // Called after the step's attention; eviction policies name what leaves the cache.
  virtual Eviction evict(const StepInfo& step) { return {}; }
};

// One key span per KV head covering [begin, end): the dense selection, used by every policy for
// steps it leaves dense (prefill, short contexts).
void select_all(const StepInfo& step, Selection& out);

std::unique_ptr<AttentionPolicy> make_dense_policy();

}  // namespace longctx
