// Windowed perplexity as llama.cpp's llama-perplexity computes it (gguf.md 6.5): the token stream
// cut into chunks of n_ctx tokens, the first token of each chunk replaced by BOS when bos >= 0, and
// only the second half of each chunk scored.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "engine/session.h"

namespace longctx {

// log(sum exp(logits)), computed from the maximum: log p(token) = logits[token] - this.
double log_sum_exp(std::span<const float> logits);

struct PerplexityResult {
  double ppl = 0;
  double error = 0;  // standard error of the estimate, as llama.cpp reports it
  int64_t chunks = 0;
  int64_t scored = 0;
};

// Throws longctx::Error when tokens hold fewer than 2 * n_ctx. `on_chunk(i, running_ppl)` is
// called after each chunk (progress). The session's context must hold n_ctx tokens.
// With decode > 0 each chunk is instead prefilled up to its last `decode` tokens, which are then
// fed one at a time and each scored: decode steps, where decode-time attention policies (Quest,
// recycled, H2O after its prompt, SnapKV's compressed cache) act.
PerplexityResult windowed_perplexity(Session& session, std::span<const int32_t> tokens,
                                     int64_t n_ctx, int32_t bos, int64_t max_chunks,
                                     const std::function<void(int64_t, double)>& on_chunk = {},
                                     int64_t decode = 0);

}  // namespace longctx
