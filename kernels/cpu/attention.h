// Causal attention over an f16 KV cache, read in place: grouped-query heads, tiles of keys with an
// online softmax, and a list of key spans per KV head, so that one kernel executes every attention
// policy's selection (dense is a single span over the whole cache).
#pragma once

#include <cstdint>

namespace longctx::cpu {

struct KeySpan {
  int32_t begin = 0, end = 0;  // cache slots [begin, end)
};

struct AttentionArgs {
  const float* q = nullptr;  // [n_q][n_head][head_dim], rotated and scaled
  int64_t n_q = 0, n_head = 0, n_kv_head = 0, head_dim = 0;
  const uint16_t* k = nullptr;  // [n_kv_head][capacity][head_dim] IEEE half
  const uint16_t* v = nullptr;  // same layout
  int64_t capacity = 0;
  const int32_t* key_pos = nullptr;  // position of the token in each cache slot
  const int32_t* q_pos = nullptr;    // position of each query
  int64_t window = 0;  // sliding window: key masked when q_pos - key_pos >= window (0 = none)
  float scale = 1.0f;  // multiplies q.k
  // Spans of head g: spans[span_offsets[g] .. span_offsets[g+1]).
  const KeySpan* spans = nullptr;
  const int32_t* span_offsets = nullptr;
  float* out = nullptr;  // [n_q][n_head][head_dim]
  // Limits of this kernel: head_dim <= 256, n_head / n_kv_head <= 16.
};

void attention(const AttentionArgs& a);

}  // namespace longctx::cpu
