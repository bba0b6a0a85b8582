// The sampler's rules on hand-made logits.
#include <catch2/catch.hpp>
#include <map>

#include "engine/sampler.h"

using namespace longctx;

namespace {
const std::vector<float> kLogits = {1.0f, 3.0f, 2.5f, -1.0f, 2.9f};
}

TEST_CASE("temperature 0 is greedy, ignoring every other knob", "[sampler]") {
  SamplerOptions o;
  o.temperature = 0;
  Sampler s(o);
  CHECK(s.sample(kLogits, {}) == 1);
}

TEST_CASE("top-k 1 always picks the best token", "[sampler]") {
  SamplerOptions o;
  o.top_k = 1;
  o.temperature = 5.0f;
  Sampler s(o);
  for (int i = 0; i < 50; ++i) CHECK(s.sample(kLogits, {}) == 1);
}

TEST_CASE("the same seed gives the same tokens; top-k, top-p and min-p bound the choice",
          "[sampler]") {
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.seed = 7;
  Sampler a(o), b(o);
  std::map<int32_t, int> seen;
  for (int i = 0; i < 400; ++i) {
    int32_t x = a.sample(kLogits, {});
    CHECK(x == b.sample(kLogits, {}));
    seen[x]++;
  }
  CHECK(seen.size() >= 4);  // every plausible token shows up at temperature 1
  o.top_k = 3;              // keeps 1, 4, 2
  Sampler k3(o);
  for (int i = 0; i < 200; ++i) {
    int32_t x = k3.sample(kLogits, {});
    CHECK((x == 1 || x == 4 || x == 2));
  }
  o.top_k = 0;
  o.min_p = 0.8f;  // exp(2.9-3) = 0.90 stays, exp(2.5-3) = 0.61 goes
  Sampler mp(o);
  for (int i = 0; i < 200; ++i) {
    int32_t x = mp.sample(kLogits, {});
    CHECK((x == 1 || x == 4));
  }
  o.min_p = 0;
  o.top_p = 0.3f;  // the best token alone holds more than 30%
  Sampler tp(o);
  for (int i = 0; i < 100; ++i) CHECK(tp.sample(kLogits, {}) == 1);
}

TEST_CASE("the repetition penalty steers away from recent tokens", "[sampler]") {
  SamplerOptions o;
  o.temperature = 0;
  o.repeat_penalty = 1.5f;
  Sampler s(o);
  std::vector<int32_t> history = {1};  // 3.0 / 1.5 = 2.0 < 2.9
  CHECK(s.sample(kLogits, history) == 4);
  o.repeat_last_n = 1;
  Sampler window(o);
  std::vector<int32_t> old = {1, 0};  // token 1 is outside the last-1 window
  CHECK(window.sample(kLogits, old) == 1);
}
