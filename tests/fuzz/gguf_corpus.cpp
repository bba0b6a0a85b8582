// A bounded, deterministic fuzz run of the GGUF reader, built with AddressSanitizer and UBSan and
// run by CTest: seeds from tests/gguf_builder, then truncations at every field boundary, every
// count, length and type tag set to hostile values, and seeded random byte mutations. Every input
// must end in a clean longctx::Error or a valid file; anything else fails the test.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "tests/fuzz/exercise_gguf.h"
#include "tests/gguf_builder.h"

namespace {

using longctx::test::GgufBuilder;

struct Stats {
  size_t runs = 0, accepted = 0, rejected = 0, crashed = 0;
};

void run(Stats& s, const std::vector<uint8_t>& bytes, const char* what) {
  ++s.runs;
  try {
    (longctx::fuzz::exercise_gguf(bytes.data(), bytes.size()) ? s.accepted : s.rejected)++;
  } catch (const std::exception& e) {
    ++s.crashed;
    std::fprintf(stderr, "FAIL (%s, %zu bytes): unexpected exception: %s\n", what, bytes.size(),
                 e.what());
  }
}

template <typename T>
std::vector<uint8_t> with_value(std::vector<uint8_t> bytes, size_t at, T value) {
  if (at + sizeof(T) <= bytes.size()) std::memcpy(bytes.data() + at, &value, sizeof(T));
  return bytes;
}

void mutate_seed(Stats& s, const std::vector<uint8_t>& seed, const GgufBuilder& b,
                 size_t random_runs) {
  run(s, seed, "seed");
  for (size_t cut : b.boundaries()) {
    for (size_t c : {cut, cut + 1, cut > 0 ? cut - 1 : 0}) {
      if (c < seed.size())
        run(s, std::vector<uint8_t>(seed.begin(), seed.begin() + long(c)), "truncate");
    }
  }
  const uint64_t hostile_u64[] = {0,
                                  1,
                                  2,
                                  0xff,
                                  0xffff,
                                  0xffffffffu,
                                  0x100000000ull,
                                  uint64_t(seed.size()),
                                  uint64_t(seed.size()) + 1,
                                  1ull << 62,
                                  1ull << 63,
                                  ~0ull,
                                  ~0ull - 1};
  for (size_t at : b.count_fields()) {
    for (uint64_t v : hostile_u64) run(s, with_value(seed, at, v), "count");
  }
  const int32_t hostile_tags[] = {-1, 0,  1,  7,  8,  9,          12,
                                  13, 15, 30, 31, 99, 0x7fffffff, int32_t(0x80000000)};
  for (size_t at : b.tag_fields()) {
    for (int32_t v : hostile_tags) run(s, with_value(seed, at, v), "tag");
  }
  for (uint64_t v : hostile_u64) {
    run(s, with_value(seed, 8, v), "tensor count");
    run(s, with_value(seed, 16, v), "kv count");
  }
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < random_runs; ++i) {
    std::vector<uint8_t> m = seed;
    int flips = 1 + int(rng() % 8);
    for (int k = 0; k < flips; ++k) {
      size_t at = rng() % m.size();
      switch (rng() % 4) {
        case 0:
          m[at] ^= uint8_t(1u << (rng() % 8));
          break;
        case 1:
          m[at] = uint8_t(rng());
          break;
        case 2:
          m[at] = 0xff;
          break;
        default:
          m.resize(at);
          break;
      }
      if (m.empty()) break;
    }
    run(s, m, "random");
  }
}

}  // namespace

int main(int argc, char** argv) {
  size_t random_runs = argc > 1 ? std::stoul(argv[1]) : 20000;
  Stats s;
  GgufBuilder rich;
  auto rich_bytes = longctx::test::rich_gguf(&rich);
  mutate_seed(s, rich_bytes, rich, random_runs);
  GgufBuilder minimal;
  minimal.kv_string("general.architecture", "llama");
  auto minimal_bytes = minimal.build(2, 32);
  mutate_seed(s, minimal_bytes, minimal, random_runs / 10);
  // Gemma 2's keys: soft-caps and a sliding window.
  GgufBuilder gemma2;
  auto gemma2_bytes = longctx::test::gemma2_gguf(50.0f, 30.0f, &gemma2);
  mutate_seed(s, gemma2_bytes, gemma2, random_runs / 10);
  // Mixtral's expert keys and a 3-D expert tensor in MXFP4 (gpt-oss's expert format).
  GgufBuilder moe;
  longctx::test::rich_gguf(&moe);
  moe.kv("llama.expert_count", longctx::gguf::ValueType::UINT32, uint32_t{4})
      .kv("llama.expert_used_count", longctx::gguf::ValueType::UINT32, uint32_t{2})
      .kv("llama.expert_feed_forward_length", longctx::gguf::ValueType::UINT32, uint32_t{8})
      .tensor("blk.0.ffn_gate_exps.weight", 39 /*MXFP4*/, {64, 8, 4},
              std::vector<uint8_t>(64 * 8 * 4 / 32 * 17, 0x5a));
  mutate_seed(s, moe.build(), moe, random_runs / 10);
  run(s, {}, "empty");
  std::printf(
      "gguf fuzz corpus: %zu inputs, %zu accepted, %zu rejected with a clear error, %zu failures\n",
      s.runs, s.accepted, s.rejected, s.crashed);
  return s.crashed == 0 && s.rejected > 0 && s.accepted > 0 ? 0 : 1;
}
