// --trace-attention: the lines say what the policies really read and kept, checked against the
// session's own cache and each policy's rule on a real model.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/session.h"
#include "models/model.h"
#include "support/error.h"
#include "tests/fixtures.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;
using nlohmann::json;

namespace {

std::set<int32_t> positions(const json& spans) {
  std::set<int32_t> out;
  for (const auto& s : spans)
    for (int32_t p = s[0].get<int32_t>(); p < s[1].get<int32_t>(); ++p) out.insert(p);
  return out;
}

struct Traced {
  std::vector<json> lines;
  std::unique_ptr<Session> session;
};

// A prompt of `lines` report lines (30: ~330 tokens; `tokens` > 0 cuts it to that many) and 4
// decode steps under `attn`, traced.
Traced run_traced(const Model& model, const std::string& attn, int lines = 30, size_t tokens = 0,
                  int64_t n_ctx = 512) {
  auto tok = tokenizer::Tokenizer::create(model.vocab);
  std::string text;
  for (int i = 0; i < lines; ++i)
    text += "Line " + std::to_string(i) + " of a long and dull report. ";
  auto ids = tok->encode(text, true, false);
  if (tokens > 0) ids.resize(tokens);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("longctx-trace-" + attn.substr(0, 4) + ".jsonl"))
          .string();
  Traced t;
  SessionOptions so{n_ctx, 128, policies_for_all_layers(attn, model.config.n_layer)};
  so.trace = std::make_shared<AttentionTrace>(path);
  t.session = std::make_unique<Session>(model, so);
  auto logits = t.session->eval(ids);
  for (int i = 0; i < 4; ++i) {
    int32_t next[1] = {int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin())};
    logits = t.session->eval(next);
  }
  so.trace->finish();
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) t.lines.push_back(json::parse(line));
  std::filesystem::remove(path);
  return t;
}

}  // namespace

TEST_CASE("attention traces: what each policy read and kept", "[model][attention]") {
  auto model = load_model(test::model_path(test::kSmolLM2));
  const int64_t n_layer = model->config.n_layer, n_kv = model->config.n_head_kv;
  SECTION("dense reads every cached position, on every step, layer and head") {
    Traced t = run_traced(*model, "dense");
    REQUIRE(t.lines.size() == size_t(4 * n_layer * n_kv + n_layer * n_kv * 3));  // 3 chunks
    for (const json& l : t.lines) {
      const int64_t end = l["pos"].get<int64_t>() + l["n_q"].get<int64_t>();
      REQUIRE(l["read"] == json::array({json::array({0, end})}));
    }
  }
  SECTION("streaming keeps the sinks and the window after the prompt, drops the rest") {
    Traced t = run_traced(*model, "streaming:sinks=4,window=64");
    int evictions = 0;
    for (const json& l : t.lines) {
      if (!l.contains("kept")) continue;
      ++evictions;
      const int64_t end = l["pos"].get<int64_t>() + l["n_q"].get<int64_t>();
      if (l["n_q"] == 1) continue;  // decode steps roll one token
      CHECK(l["kept"] == json::array({json::array({0, 4}), json::array({end - 64, end})}));
      CHECK(l["dropped"] == json::array({json::array({4, end - 64})}));
    }
    CHECK(evictions == (1 + 4) * n_layer * n_kv);  // at the prompt's end, then every step
  }
  SECTION("h2o: the last kept positions are what each head's cache holds") {
    Traced t = run_traced(*model, "h2o:budget=64");
    std::map<std::pair<int64_t, int64_t>, json> last;
    for (const json& l : t.lines)
      if (l.contains("kept")) last[{l["layer"], l["head"]}] = l;
    REQUIRE(last.size() == size_t(n_layer * n_kv));
    const KvBook& cache = t.session->book();
    for (const auto& [key, l] : last) {
      const auto [layer, head] = key;
      std::set<int32_t> held;
      const int32_t* pos = cache.positions(layer) + head * cache.capacity(layer);
      for (int64_t s = 0; s < cache.used(layer); ++s) held.insert(pos[s]);
      std::set<int32_t> kept = positions(l["kept"]);
      CHECK(kept.size() == 64);
      CHECK(kept == held);
    }
  }
  SECTION("quest: dense first two layers, then the budget per query head with the newest page") {
    Traced t = run_traced(*model, "quest:budget=64,page=16");
    int ranked = 0;
    for (const json& l : t.lines) {
      if (l["n_q"] != 1) continue;
      const int64_t end = l["pos"].get<int64_t>() + 1;
      std::set<int32_t> read = positions(l["read"]);
      if (l["layer"] < 2) {
        CHECK(int64_t(read.size()) == end);
        continue;
      }
      ++ranked;
      REQUIRE(l.contains("query_head"));
      CHECK(read.size() <= 64);
      CHECK(read.count(int32_t(end - 1)) == 1);
    }
    CHECK(ranked == 4 * (n_layer - 2) * model->config.n_head);
  }
}

// DHSA as the paper's code runs it: the prompt sparse but exactly its last 64 queries dense (the
// 1,507- and 1,030-token prompts of the independent check: whole blocks made 99 and 6 dense), and
// one selection per layer from queries and keys averaged over every head.
TEST_CASE("dhsa: exactly the prompt's last 64 queries read densely, one selection per layer",
          "[model][attention]") {
  auto model = load_model(test::model_path(test::kSmolLM2));
  const int64_t n_layer = model->config.n_layer, n_kv = model->config.n_head_kv;
  for (size_t prompt : {size_t(1507), size_t(1030)}) {
    INFO(prompt << " prompt tokens");
    Traced t = run_traced(*model, "dhsa:budget=256,local=32", 160, prompt, 2048);
    // Per layer and head: the prompt's queries whose block read every key it could see, while a
    // sparse one would have fit the budget.
    std::map<std::pair<int64_t, int64_t>, int64_t> dense;
    // Per layer, step and block: what each KV head read.
    std::map<std::tuple<int64_t, int64_t, int64_t>, std::set<std::set<int32_t>>> by_head;
    for (const json& l : t.lines) {
      if (l["n_q"] == 1) continue;
      // A step read whole (its cache within the budget) has no query blocks.
      const int64_t q0 = l.contains("queries") ? l["queries"][0].get<int64_t>() : 0;
      const int64_t q1 =
          l.contains("queries") ? l["queries"][1].get<int64_t>() : l["n_q"].get<int64_t>();
      const int64_t visible = l["pos"].get<int64_t>() + q1;
      std::set<int32_t> read = positions(l["read"]);
      if (visible > 256 && int64_t(read.size()) == visible)
        dense[{l["layer"], l["head"]}] += q1 - q0;
      by_head[{l["layer"], l["step"], q0}].insert(read);
    }
    REQUIRE(dense.size() == size_t(n_layer * n_kv));
    for (const auto& [key, n] : dense) CHECK(n == 64);
    for (const auto& [key, reads] : by_head) CHECK(reads.size() == 1);  // every head the same
  }
  // heads=query ranks per head: the heads' reads differ somewhere.
  Traced t = run_traced(*model, "dhsa:budget=256,local=32,heads=query", 160, 1030, 2048);
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::set<std::set<int32_t>>> by_head;
  for (const json& l : t.lines)
    if (l["n_q"] != 1 && l.contains("queries"))
      by_head[{l["layer"], l["step"], l["queries"][0]}].insert(positions(l["read"]));
  bool differ = false;
  for (const auto& [key, reads] : by_head) differ = differ || reads.size() > 1;
  CHECK(differ);
}

TEST_CASE("a trace file that cannot be written is refused before anything runs", "[attention]") {
  CHECK_THROWS_WITH(
      AttentionTrace("/nonexistent-dir/trace.jsonl"),
      Catch::Contains("--trace-attention /nonexistent-dir/trace.jsonl: cannot write"));
}
