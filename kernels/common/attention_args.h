// What every attention kernel (CPU and CUDA) takes: the queries, the layer's cache read in place in
// its precision, and the selection as key spans per KV head, so that one kernel executes every
// attention policy's choice (dense is a single span over the whole cache). Pointers are host
// memory for the CPU kernel and device memory for the CUDA one. The kernels' limits are named here
// once: the loaders refuse a model beyond them.
#pragma once

#include <cstdint>

#include "kernels/common/kv_rows.h"

namespace longctx::kernels {

inline constexpr int64_t kMaxHeadDim = kMaxRotatedDim;  // key and value lengths
inline constexpr int64_t kMaxGroup = 16;                // query heads per KV head

struct KeySpan {
  int32_t begin = 0, end = 0;  // cache slots [begin, end)
};

struct AttentionArgs {
  const float* q = nullptr;  // [n_q][n_head][head_dim], rotated
  int64_t n_q = 0, n_head = 0, n_kv_head = 0, head_dim = 0;
  KvType kv_type = KvType::F16;
  const uint8_t* k = nullptr;  // [n_kv_head][capacity] rows of kv_row_bytes(kv_type, head_dim)
  const uint8_t* v = nullptr;  // same layout
  int64_t capacity = 0;
  const int32_t* key_pos = nullptr;  // [n_kv_head][capacity]: position of each slot's token
  const int32_t* q_pos = nullptr;    // position of each query
  int64_t window = 0;  // sliding window: key masked when q_pos - key_pos >= window (0 = none)
  float scale = 1.0f;  // multiplies q.k
  // Soft-cap of the scaled scores, cap * tanh(score / cap) (Gemma 2); 0: none.
  float softcap = 0.0f;
  // Spans of head g: spans[span_offsets[g] .. span_offsets[g+1]). With span_q_block > 0 (a
  // multiple of 8), queries [b * span_q_block, (b + 1) * span_q_block) have their own spans, at
  // span_offsets[b * n_kv_head + g].
  const KeySpan* spans = nullptr;
  const int32_t* span_offsets = nullptr;
  int64_t span_q_block = 0;
  // Heads of the selection per stored KV head: 1, or n_head / stored KV heads when every query
  // head has spans of its own (n_kv_head is then n_head; head g reads stored head g / kv_repeat).
  int64_t kv_repeat = 1;
  // The most keys any selection holds: a device sizes its split over the keys by it (the CPU
  // kernel does not read it).
  int64_t max_selected = 0;
  float* out = nullptr;  // [n_q][n_head][head_dim]
  // Optional: log of each row's softmax normaliser, [n_q][n_head] (what attention_mass needs).
  float* lse = nullptr;
  // attention_mass: a group's query heads combined by max (each head's mass summed over the
  // queries first) instead of summed.
  bool mass_max = false;
};

}  // namespace longctx::kernels
