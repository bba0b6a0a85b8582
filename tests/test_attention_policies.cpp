// Attention policies: flag parsing, Quest's selection rules, and policies with a budget at least
// the context reproducing dense attention exactly on a real model.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <random>

#include "engine/attention/registry.h"
#include "engine/session.h"
#include "kernels/common/fp16.h"
#include "models/model.h"
#include "support/error.h"
#include "tests/fixtures.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;

namespace {

// Logits of a prompt and of `steps` greedy decode steps under one policy for all layers.
std::vector<float> logits_under(const Model& model, const std::vector<int32_t>& ids,
                                const std::string& attn, int steps) {
  Session s(model, SessionOptions{128, 64, policies_for_all_layers(attn, model.config.n_layer)});
  std::vector<float> all;
  auto l = s.eval(ids);
  all.insert(all.end(), l.begin(), l.end());
  for (int i = 0; i < steps; ++i) {  // decode steps, where the sparse policies plan
    int32_t one[1] = {int32_t(std::max_element(l.begin(), l.end()) - l.begin())};
    l = s.eval(one);
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

}  // namespace

TEST_CASE("--attn specs parse and reject what they do not know", "[attention]") {
  auto spec = parse_policy_spec("quest:budget=512,page=8");
  CHECK(spec.name == "quest");
  CHECK(spec.params.at("budget") == "512");
  CHECK(spec.text() == "quest:budget=512,page=8");
  CHECK(make_policy(spec)->name() == "quest:budget=512,page=8");
  CHECK(make_policy(parse_policy_spec("quest"))->name() == "quest:budget=1024,page=16");
  CHECK_THROWS_WITH(make_policy(parse_policy_spec("nope")),
                    Catch::Contains("unknown attention policy 'nope'"));
  CHECK_THROWS_WITH(make_policy(parse_policy_spec("quest:size=3")),
                    Catch::Contains("unknown parameter 'size'"));
  CHECK_THROWS_WITH(make_policy(parse_policy_spec("quest:page=0")), Catch::Contains("page=0"));
  CHECK_THROWS_WITH(make_policy(parse_policy_spec("dense:budget=1")),
                    Catch::Contains("it takes none"));
  CHECK_THROWS_WITH(parse_policy_spec("quest:budget"), Catch::Contains("not key=value"));
  CHECK_THROWS_WITH(parse_policy_spec("quest:page=1,page=2"), Catch::Contains("given twice"));
  auto all = policies_for_all_layers("quest:budget=64", 3);
  REQUIRE(all.size() == 3);
  CHECK(all[2].params.at("budget") == "64");
  CHECK_THROWS_WITH(policies_from_config_file(test::fixture_path("no_such.json"), 3),
                    Catch::Contains("cannot open"));
  auto preset =
      policies_from_config_file(std::string(LONGCTX_SOURCE_DIR) + "/configs/quest.json", 30);
  CHECK(preset[0].name == "dense");
  CHECK(preset[1].name == "dense");
  CHECK(preset[2].name == "quest");
}

TEST_CASE("Quest reads at most its budget, always the newest page, in sorted spans",
          "[attention]") {
  const int64_t n_kv = 2, group = 2, hd = 16, cap = 400, cached = 333;
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0, 1);
  std::vector<uint16_t> keys(size_t(n_kv * cap * hd));
  for (auto& k : keys) k = kernels::float_to_fp16(normal(rng));
  std::vector<float> q(size_t(n_kv * group * hd));
  for (auto& x : q) x = normal(rng);
  for (int64_t budget : {int64_t(40), int64_t(100), int64_t(256)}) {
    auto policy = make_policy(parse_policy_spec("quest:page=16,budget=" + std::to_string(budget)));
    Selection sel;
    StepInfo step{5, n_kv, cached, cached - 1, 0, q.data(), 1, n_kv * group, hd, keys.data(), cap};
    policy->plan(step, sel);
    REQUIRE(sel.offsets.size() == size_t(n_kv + 1));
    for (int64_t g = 0; g < n_kv; ++g) {
      int64_t read = 0, last_end = -1;
      for (int32_t s = sel.offsets[size_t(g)]; s < sel.offsets[size_t(g + 1)]; ++s) {
        const auto& span = sel.spans[size_t(s)];
        CHECK(span.begin < span.end);
        CHECK(span.begin > last_end);  // sorted, disjoint
        CHECK(span.end <= cached);
        last_end = span.end;
        read += span.end - span.begin;
      }
      CHECK(read <= budget);
      CHECK(last_end == cached);  // the newest tokens are read
    }
  }
  // Within budget (or while prefilling) it is dense.
  auto policy = make_policy(parse_policy_spec("quest:budget=1000"));
  Selection sel;
  StepInfo step{5, n_kv, cached, cached - 1, 0, q.data(), 1, n_kv * group, hd, keys.data(), cap};
  policy->plan(step, sel);
  CHECK(sel.spans.size() == size_t(n_kv));
  CHECK(sel.spans[0].begin == 0);
  CHECK(sel.spans[0].end == cached);
}

TEST_CASE("Quest with a budget at least the context gives dense logits exactly",
          "[model][attention]") {
  std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  auto model = load_model(path);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  auto ids =
      tok->encode("Once upon a time, in a small village by the sea, there lived", true, true);
  auto dense = logits_under(*model, ids, "dense", 8);
  CHECK(logits_under(*model, ids, "quest:budget=128,page=16", 8) == dense);
  // A small budget reads fewer keys: the logits move, but stay those of a working model.
  auto sparse = logits_under(*model, ids, "quest:budget=16,page=4", 8);
  CHECK(sparse.size() == dense.size());
  CHECK(sparse != dense);
}

TEST_CASE("streaming keeps sinks and a window, re-positioned as a fresh run would",
          "[model][attention]") {
  std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  auto model = load_model(path);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  auto ids = tok->encode(
      "It was a bright cold day in April, and the clocks were striking thirteen. Winston Smith, "
      "his chin nuzzled into his breast in an effort to escape the vile wind, slipped quickly",
      true, true);
  REQUIRE(ids.size() > 24);
  const int64_t n_layer = model->config.n_layer;
  Session streamed(
      *model,
      SessionOptions{128, 64, policies_for_all_layers("streaming:sinks=4,window=16", n_layer)});
  streamed.eval(ids);
  // Only the 4 sinks and the 16 newest tokens remain, at positions 0..19 in every layer.
  for (int64_t il = 0; il < n_layer; ++il) {
    REQUIRE(streamed.cache().used(il) == 20);
    for (int32_t s = 0; s < 20; ++s) CHECK(streamed.cache().positions(il)[s] == s);
  }
  // Layer 0 keys depend only on the token and its position: after the shift they must equal a
  // fresh dense run over exactly the kept tokens (up to the half-precision rounding of
  // re-rotation).
  std::vector<int32_t> kept(ids.begin(), ids.begin() + 4);
  kept.insert(kept.end(), ids.end() - 16, ids.end());
  Session fresh(*model, SessionOptions{128, 64});
  fresh.eval(kept);
  const int64_t hd = model->config.head_dim, cap = 128;
  float worst = 0;
  for (int64_t g = 0; g < model->config.n_head_kv; ++g) {
    for (int64_t s = 0; s < 20; ++s) {
      for (int64_t d = 0; d < hd; ++d) {
        float a = kernels::fp16_to_float(streamed.cache().keys(0)[(g * cap + s) * hd + d]);
        float b = kernels::fp16_to_float(fresh.cache().keys(0)[(g * cap + s) * hd + d]);
        worst = std::max(worst, std::fabs(a - b) / std::max(1.0f, std::fabs(b)));
      }
    }
  }
  CHECK(worst < 4e-3f);
  // Decoding goes on past the cache with eviction making room.
  int32_t one[1] = {ids.back()};
  for (int i = 0; i < 5; ++i) streamed.eval(one);
  CHECK(streamed.cache().used(0) == 20);
}

TEST_CASE("streaming with a window at least the context gives dense logits exactly",
          "[model][attention]") {
  std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  auto model = load_model(path);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  auto ids =
      tok->encode("The lighthouse keeper counted the ships that passed each night", true, true);
  CHECK(logits_under(*model, ids, "streaming:sinks=4,window=124", 6) ==
        logits_under(*model, ids, "dense", 6));
}
