// Models with routed experts (Qwen3-MoE, Mixtral) under the engine's own rules: every attention
// policy with a budget covering the context is dense bit for bit, and a token's experts give it
// the same output whether its chunk holds one token or many. Their logits against transformers
// are in tests/test_hf_tiny.cpp; the routing operation's own reference in
// tests/test_backend_ops.cpp.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/session_runs.h"

using namespace longctx;

namespace {

constexpr const char* kMoeModels[] = {"tiny/tiny-qwen3moe", "tiny/tiny-qwen3moe.gguf",
                                      "tiny/tiny-mixtral", "tiny/tiny-mixtral.gguf"};

std::vector<int32_t> some_ids(int64_t n_vocab, int n) {
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < n; ++i) ids.push_back(int32_t((int64_t(i) * 7919 + 13) % n_vocab));
  return ids;
}

}  // namespace

TEST_CASE("every policy with a full budget gives dense logits on models with routed experts",
          "[model][attention][moe]") {
  for (const char* file : kMoeModels) {
    auto model = test::load_or_fail(file);
    REQUIRE(model->config.routed());
    const auto ids = some_ids(model->config.n_vocab, 40);
    // f16 KV only: the tiny heads (16, 8) are too short for q8_0/q4_0 blocks of 32.
    auto dense = test::logits_under(*model, ids, "dense", 6);
    for (const char* spec :
         {"streaming:sinks=4,window=124", "recycled:k=128,stride=2", "dhsa:budget=128",
          "quest:budget=128", "h2o:budget=128", "snapkv:budget=128,window=8"}) {
      INFO(file << " " << spec);
      CHECK(test::logits_under(*model, ids, spec, 6) == dense);
    }
  }
}

// A chunk's tokens are grouped by expert and each expert runs over its rows: a token's logits
// must not depend on which other tokens share its chunk (a wrong row-to-token map, or weights
// taken from another token's choice, would move them by the logits' own size).
TEST_CASE("a prompt in one chunk and token by token give the same logits with routed experts",
          "[model][moe]") {
  for (const char* file : kMoeModels) {
    auto model = test::load_or_fail(file);
    const auto ids = some_ids(model->config.n_vocab, 48);
    Session chunked(*model, SessionOptions{64, 64}), single(*model, SessionOptions{64, 1});
    const auto a = chunked.eval(ids, true), b = single.eval(ids, true);
    REQUIRE(a.size() == b.size());
    float worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
    INFO(file << ": largest difference " << worst);
    CHECK(worst < 1e-3f);
  }
}

// Qwen3-MoE's window (Qwen3MoeAttention): with use_sliding_window, sliding_window on every layer
// (no max_window_layers, unlike Qwen2/Qwen3); without it, none whatever sliding_window says.
TEST_CASE("Qwen3-MoE's sliding window covers every layer only when switched on", "[model][moe]") {
  const std::filesystem::path src = test::model_path("tiny/tiny-qwen3moe");
  if (!std::filesystem::exists(src)) FAIL(src << " is missing: run scripts/setup");
  const auto dir = std::filesystem::temp_directory_path() / "longctx-qwen3moe-window";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& f : std::filesystem::directory_iterator(src))
    std::filesystem::create_symlink(f.path(), dir / f.path().filename());
  auto config = nlohmann::json::parse(std::ifstream(src / "config.json"));
  for (bool on : {true, false}) {
    config["use_sliding_window"] = on;
    config["sliding_window"] = 16;
    config["max_window_layers"] = 1;  // ignored by Qwen3-MoE
    std::filesystem::remove(dir / "config.json");
    std::ofstream(dir / "config.json") << config.dump();
    auto model = load_model(dir.string());
    INFO("use_sliding_window " << on);
    CHECK(model->config.layer_is_local == std::vector<bool>(2, on));
    CHECK(model->config.sliding_window == (on ? 16 : 0));
  }
}
