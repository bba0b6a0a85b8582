// A bounded, deterministic fuzz run of the safetensors reader under AddressSanitizer and UBSan:
// truncations, hostile header lengths and seeded random mutations of the header and data. Every
// input must end in a clean longctx::Error or a valid file whose tensor views stay in bounds.
#include <cstdio>
#include <cstring>
#include <random>

#include "models/safetensors.h"
#include "support/error.h"
#include "tests/safetensors_builder.h"

int main(int argc, char** argv) {
  size_t random_runs = argc > 1 ? std::stoul(argv[1]) : 20000;
  size_t runs = 0, accepted = 0, rejected = 0, failures = 0;
  auto run = [&](const std::vector<uint8_t>& bytes) {
    ++runs;
    try {
      auto f = longctx::safetensors::File::from_bytes("fuzz", bytes);
      uint64_t touched = 0;
      for (const auto& t : f.tensors()) {
        for (uint64_t i = 0; i < t.end - t.begin; ++i) touched += t.data[i];
      }
      (void)touched;
      ++accepted;
    } catch (const longctx::Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      ++failures;
      std::fprintf(stderr, "FAIL: unexpected exception: %s\n", e.what());
    }
  };
  auto seed = longctx::test::sample_safetensors();
  for (size_t cut = 0; cut < seed.size(); ++cut)
    run(std::vector<uint8_t>(seed.begin(), seed.begin() + long(cut)));
  for (uint64_t v : {uint64_t(0), uint64_t(1), uint64_t(2), uint64_t(7), uint64_t(seed.size()),
                     ~uint64_t(0), uint64_t(1) << 32, uint64_t(100'000'001)}) {
    auto m = seed;
    std::memcpy(m.data(), &v, 8);
    run(m);
  }
  std::mt19937_64 rng(11);
  const char* tokens[] = {"\"",   "{",       "}",        "[",     "]",
                          ",",    ":",       "-1",       "1e309", "18446744073709551616",
                          "null", "\"F64\"", "\"BF16\"", "0",     "99999999999"};
  for (size_t i = 0; i < random_runs; ++i) {
    auto m = seed;
    int edits = 1 + int(rng() % 6);
    for (int k = 0; k < edits; ++k) {
      size_t at = 8 + rng() % (m.size() - 8);
      if (rng() % 3 == 0) {
        std::string t = tokens[rng() % (sizeof tokens / sizeof *tokens)];
        m.insert(m.begin() + long(at), t.begin(), t.end());
      } else {
        m[at] = uint8_t(rng());
      }
    }
    run(m);
  }
  std::printf(
      "safetensors fuzz corpus: %zu inputs, %zu accepted, %zu rejected with a clear error, %zu "
      "failures\n",
      runs, accepted, rejected, failures);
  return failures == 0 && rejected > 0 && accepted > 0 ? 0 : 1;
}
