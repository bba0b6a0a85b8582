// A small deterministic random source for the benchmark generators: the same seed gives the same
// samples on every platform and compiler (std::uniform_int_distribution is implementation-defined,
// so it is not used). Python's `random` cannot be reproduced bit for bit without its Mersenne
// Twister and sampling algorithms; RULER samples are therefore "same distribution", not the same
// text (docs/eval.md: what RULER's generator draws and what we reproduce).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace longctx::eval {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  // A seed from a run seed and the identity of what is generated ("niah_single_1/4096/7").
  static uint64_t derive(uint64_t seed, std::string_view what) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (char c : what) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return h;
  }

  uint64_t next() {  // splitmix64
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), without modulo bias.
  uint64_t below(uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }
  int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(below(uint64_t(hi - lo + 1))); }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
  // k distinct indices of [0, n), in drawing order.
  std::vector<int64_t> sample(int64_t n, int64_t k) {
    std::vector<int64_t> pool(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pool[size_t(i)] = i;
    for (int64_t i = 0; i < k; ++i)
      std::swap(pool[size_t(i)], pool[size_t(i) + below(uint64_t(n - i))]);
    pool.resize(static_cast<size_t>(k));
    return pool;
  }

 private:
  uint64_t state_;
};

}  // namespace longctx::eval
