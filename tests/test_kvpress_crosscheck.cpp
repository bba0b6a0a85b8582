// The eviction policies against NVIDIA kvpress on the same model file: the prompt positions each
// layer and KV head keeps after a prompt, with matched settings, must be kvpress's
// (tests/fixtures/kvpress/kept.json, made by scripts/fixtures/make_kvpress_kept.py in float32).
// Our cache holds keys in f16, so a position whose kvpress score lies within a hair of the lowest
// kept score may fall on the other side: every difference must be such a near-tie.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/session.h"
#include "models/model.h"
#include "tests/fixtures.h"

using namespace longctx;
using nlohmann::json;

namespace {

// Relative distance to kvpress's lowest kept score within which a position may be kept by one
// side only. Measured 2026-12-06: 33 of 150,930 kept positions differ on AVX2 (snapkv 10, at most
// 1.69e-3; observed attention 23, at most 1.99e-3), 28 on AVX-512 (at most 2.39e-3), all from the
// f16 keys and the summation order; streaming matches exactly. The bound is about twice the
// larger.
constexpr double kNearTie = 4e-3;

std::string matched_policy(const json& c) {
  const int64_t kept = c["n_kept"];
  const std::string press = c["press"];
  if (press == "snapkv")
    return "snapkv:budget=" + std::to_string(kept) + ",window=" + c["window"].dump() +
           ",kernel=" + c["kernel"].dump();
  if (press == "streaming")
    return "streaming:sinks=" + c["sinks"].dump() +
           ",window=" + std::to_string(kept - c["sinks"].get<int64_t>());
  REQUIRE(press == "observed_attention");
  return "h2o:budget=" + std::to_string(kept) + ",recent=0,score=mean";
}

}  // namespace

TEST_CASE("snapkv, streaming and h2o keep what kvpress keeps", "[model][attention]") {
  json fixture = json::parse(std::ifstream(test::fixture_path("kvpress/kept.json")));
  auto model = load_model(test::model_path("SmolLM2-135M-Instruct-hf"));
  const int64_t n_layer = model->config.n_layer, n_kv = model->config.n_head_kv;
  size_t differences = 0, compared = 0;
  std::map<std::string, std::pair<size_t, double>> by_press;  // differences, largest distance
  for (const json& c : fixture["cases"]) {
    const std::string policy = matched_policy(c);
    INFO(policy << ", prompt " << c["prompt"]);
    const std::vector<int32_t> tokens = c["tokens"];
    SessionOptions so{int64_t(tokens.size()) + 8, 512, policies_for_all_layers(policy, n_layer)};
    Session session(*model, so);
    session.eval(tokens);
    const KvBook& cache = session.book();
    REQUIRE(c["layers"].size() == size_t(n_layer));
    for (int64_t layer = 0; layer < n_layer; ++layer) {
      REQUIRE(cache.used(layer) == c["n_kept"].get<int64_t>());
      for (int64_t g = 0; g < n_kv; ++g) {
        const json& head = c["layers"][size_t(layer)][size_t(g)];
        std::set<int32_t> theirs, ours;
        for (const auto& span : head["kept"])
          for (int32_t p = span[0]; p < span[1].get<int32_t>(); ++p) theirs.insert(p);
        const int32_t* pos = cache.positions(layer) + g * cache.capacity(layer);
        // StreamingLLM re-positions what follows its sinks: back to the token's place in the text.
        const bool repositioned = c["press"] == "streaming";
        const int32_t shift = int32_t(tokens.size()) - c["n_kept"].get<int32_t>();
        for (int64_t s = 0; s < cache.used(layer); ++s)
          ours.insert(repositioned && pos[s] >= c["sinks"].get<int32_t>() ? pos[s] + shift
                                                                          : pos[s]);
        std::map<int32_t, double> near;
        for (const auto& n : head["near"]) near[n[0].get<int32_t>()] = n[1].get<double>();
        compared += theirs.size();
        for (int32_t p : theirs) {
          if (ours.count(p)) continue;
          ++differences;
          INFO("layer " << layer << " head " << g << ": kvpress keeps " << p << ", we drop it");
          REQUIRE(near.count(p));
          CHECK(near[p] <= kNearTie);
          auto& [n, worst] = by_press[c["press"]];
          ++n;
          worst = std::max(worst, near[p]);
        }
        for (int32_t p : ours) {
          if (theirs.count(p)) continue;
          INFO("layer " << layer << " head " << g << ": we keep " << p << ", kvpress drops it");
          REQUIRE(near.count(p));
          CHECK(near[p] <= kNearTie);
          by_press[c["press"]].second = std::max(by_press[c["press"]].second, near[p]);
        }
      }
    }
  }
  std::string summary;
  for (const auto& [press, d] : by_press)
    summary += " " + press + ": " + std::to_string(d.first) + " dropped by us, largest distance " +
               std::to_string(d.second) + ";";
  WARN(differences << " of " << compared << " kept positions differ from kvpress, all near-ties."
                   << summary);
  CHECK(differences * 100 <= compared);  // a rounding effect, not a rule: under 1%
}
