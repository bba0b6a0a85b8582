#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "support/error.h"

namespace longctx {

double log_sum_exp(std::span<const float> logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l - max));
  return double(max) + std::log(sum);
}

PerplexityResult windowed_perplexity(Session& session, std::span<const int32_t> tokens,
                                     int64_t n_ctx, int32_t bos, int64_t max_chunks,
                                     const std::function<void(int64_t, double)>& on_chunk,
                                     int64_t decode) {
  if (n_ctx < 16) throw Error("perplexity: the window must be at least 16 tokens");
  if (decode < 0 || decode >= n_ctx) {
    throw Error("perplexity: --decode " + std::to_string(decode) + " must be below the window of " +
                std::to_string(n_ctx));
  }
  if (int64_t(tokens.size()) < 2 * n_ctx) {
    throw Error("perplexity: the text has " + std::to_string(tokens.size()) +
                " tokens; at least 2 * n_ctx = " + std::to_string(2 * n_ctx) + " are needed");
  }
  int64_t n_chunks = int64_t(tokens.size()) / n_ctx;
  if (max_chunks >= 0) n_chunks = std::min(n_chunks, max_chunks);
  const int64_t first = n_ctx / 2;
  const int64_t n_vocab = session.model().config.n_vocab;
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  auto score = [&](const float* row, int32_t target) {
    const double lp = double(row[target]) - log_sum_exp({row, size_t(n_vocab)});
    nll -= lp;
    nll2 += lp * lp;
    ++count;
  };
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, chunk.begin());
    if (bos >= 0) chunk[0] = bos;
    session.clear();
    if (decode > 0) {
      const int64_t prefix = n_ctx - decode;
      auto logits = session.eval(std::span<const int32_t>(chunk.data(), size_t(prefix)));
      for (int64_t j = prefix; j < n_ctx; ++j) {
        score(logits.data(), tokens[size_t(c * n_ctx + j)]);
        if (j + 1 < n_ctx) logits = session.eval(std::span<const int32_t>(&chunk[size_t(j)], 1));
      }
    } else {
      auto logits = session.eval(chunk, true);
      for (int64_t j = first; j < n_ctx - 1; ++j)
        score(logits.data() + j * n_vocab, tokens[size_t(c * n_ctx + j + 1)]);
    }
    if (on_chunk) on_chunk(c, std::exp(nll / double(count)));
  }
  PerplexityResult r;
  double mean = nll / double(count);
  double var = nll2 / double(count) - mean * mean;
  r.ppl = std::exp(mean);
  r.error = count > 1 ? r.ppl * std::sqrt(var / double(count - 1)) : 0;
  r.chunks = n_chunks;
  r.scored = count;
  return r;
}

}  // namespace longctx
