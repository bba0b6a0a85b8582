// Routing one token to its experts (a mixture-of-experts FFN), written once for the CPU and CUDA
// backends: the `used` largest of `count` router logits, and their softmax probabilities over all
// `count` experts, renormalised over the chosen ones when asked. The same choice and weights as
// transformers' Qwen3MoeTopKRouter / MixtralTopKRouter (softmax, top-k, divide by the sum) and
// llama.cpp's build_moe_ffn with softmax gating; top-k of the probabilities is top-k of the
// logits, since softmax keeps their order.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/host_device.h"

namespace longctx::kernels {

// Whether expert a (logit la) comes before expert b in the choice: the larger logit, on a tie the
// lower id; a NaN logit counts as -inf.
LC_HD bool routed_before(float la, int32_t a, float lb, int32_t b) {
  if (std::isnan(la)) la = -INFINITY;
  if (std::isnan(lb)) lb = -INFINITY;
  return la > lb || (la == lb && a < b);
}

// ids[0..used) and weights[0..used) of one token, ids in the choice's order.
LC_HD void route_token(const float* logits, int32_t count, int32_t used, bool renormalize,
                       int32_t* ids, float* weights) {
  for (int32_t j = 0; j < used; ++j) {
    // The first expert in order after the previous choice: a selection without a taken-list.
    int32_t best = -1;
    for (int32_t x = 0; x < count; ++x) {
      if (j > 0 && !routed_before(logits[ids[j - 1]], ids[j - 1], logits[x], x)) continue;
      if (best < 0 || routed_before(logits[x], x, logits[best], best)) best = x;
    }
    ids[j] = best < 0 ? 0 : best;
  }
  const float top = logits[ids[0]];
  float all = 0.0f;
  for (int32_t x = 0; x < count; ++x) all += expf(logits[x] - top);
  float chosen = 0.0f;
  for (int32_t j = 0; j < used; ++j) {
    weights[j] = expf(logits[ids[j]] - top) / all;
    chosen += weights[j];
  }
  if (renormalize)
    for (int32_t j = 0; j < used; ++j) weights[j] /= chosen;
}

}  // namespace longctx::kernels
