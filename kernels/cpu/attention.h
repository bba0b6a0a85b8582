// Causal attention over the KV cache, read in place in its precision (f16, q8_0, q4_0):
// grouped-query heads, tiles of keys with an online softmax, over the key spans of
// kernels/common/attention_args.h. attention_mass() is the statistics pass scored policies ask for.
#pragma once

#include <cstdint>

#include "kernels/common/attention_args.h"

namespace longctx::cpu {

using kernels::AttentionArgs;
using kernels::KeySpan;

// Limits: head_dim <= kernels::kMaxHeadDim.
void attention(const AttentionArgs& a);

// Adds to mass[g * capacity + slot] the attention probability of every key of the selection,
// summed over the query heads of KV head g and over queries [q_begin, n_q). Reads a.lse as written
// by attention() with the same arguments; keys outside the selection get nothing. Needs one
// selection for all queries (span_q_block == 0).
void attention_mass(const AttentionArgs& a, int64_t q_begin, float* mass);

}  // namespace longctx::cpu
