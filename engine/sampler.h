// Picks the next token from logits: repetition penalty, then top-k, top-p, min-p and temperature
// (llama.cpp's order), or greedy when the temperature is 0. Seeded, so runs repeat.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace longctx {

struct SamplerOptions {
  float temperature = 0.8f;  // llama.cpp defaults
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;  // 1 = off
  int32_t repeat_last_n = 64;
  uint64_t seed = kRandomSeed;
  // llama.cpp's LLAMA_DEFAULT_SEED: draw a fresh seed for every run.
  static constexpr uint64_t kRandomSeed = 0xFFFFFFFF;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options);
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

 private:
  SamplerOptions o_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace longctx
