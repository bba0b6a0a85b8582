#include "engine/sampler.h"

#include <algorithm>
#include <cmath>

namespace longctx {

Sampler::Sampler(SamplerOptions options)
    : o_(options),
      rng_(options.seed == SamplerOptions::kRandomSeed ? std::random_device{}() : options.seed) {}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  const int32_t n = int32_t(logits.size());
  candidates_.resize(size_t(n));
  for (int32_t i = 0; i < n; ++i) candidates_[size_t(i)] = {logits[size_t(i)], i};
  // Repetition penalty over the last repeat_last_n tokens (CTRL's rule, as llama.cpp applies it).
  if (o_.repeat_penalty != 1.0f && o_.repeat_last_n != 0) {
    size_t window =
        o_.repeat_last_n < 0 ? history.size() : std::min(history.size(), size_t(o_.repeat_last_n));
    std::vector<bool> seen(size_t(n), false);
    for (size_t i = history.size() - window; i < history.size(); ++i) {
      int32_t t = history[i];
      if (t < 0 || t >= n || seen[size_t(t)]) continue;
      seen[size_t(t)] = true;
      float& l = candidates_[size_t(t)].first;
      l = l > 0 ? l / o_.repeat_penalty : l * o_.repeat_penalty;
    }
  }
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (o_.temperature <= 0.0f) {
    return std::min_element(candidates_.begin(), candidates_.end(), by_logit)->second;
  }
  size_t keep = candidates_.size();
  if (o_.top_k > 0) keep = std::min(keep, size_t(o_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + long(keep), candidates_.end(),
                    by_logit);
  candidates_.resize(keep);
  // Probabilities at temperature 1 for the top-p and min-p cuts.
  std::vector<float> p(keep);
  float max = candidates_[0].first;
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += p[i] = std::exp(candidates_[i].first - max);
  if (o_.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
      cum += p[i] / sum;
      if (cum >= o_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (o_.min_p > 0.0f) {
    size_t k = 1;
    while (k < keep && p[k] >= o_.min_p * p[0]) ++k;
    keep = k;
  }
  std::vector<double> weights(keep);
  for (size_t i = 0; i < keep; ++i) {
    weights[i] = std::exp(double(candidates_[i].first - max) / o_.temperature);
  }
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  return candidates_[pick(rng_)].second;
}

}  // namespace longctx
