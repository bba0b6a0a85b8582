// Answer log-likelihood (eval --metric): the arithmetic, the aggregation into scores.json and the
// table, and, on SmolLM2 with passkey prompts, the three properties that make it a measurement:
// a mode whose budget covers the context gives exactly dense's log P(answer); a mode that cannot
// see the needle loses nats and the paired interval resolves it on a handful of samples; and the
// value read off a generation that wrote the answer equals the teacher-forced one bit for bit.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <map>
#include <vector>

#include "engine/session_setup.h"
#include "eval/likelihood.h"
#include "eval/needle.h"
#include "eval/plots.h"
#include "eval/results.h"
#include "eval/runner.h"
#include "models/model.h"
#include "tests/fixtures.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;
using namespace longctx::eval;
using nlohmann::json;

TEST_CASE("log_prob is the log-softmax, floored where the model gives no probability", "[eval]") {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  const double z = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  CHECK(log_prob(logits, 0) == Approx(1.0 - z).epsilon(1e-12));
  CHECK(log_prob(logits, 2) == Approx(3.0 - z).epsilon(1e-12));
  // Far apart: no overflow, and the tiny one is still its true value, not -inf.
  const std::vector<float> wide = {1000.0f, -1000.0f};
  CHECK(log_prob(wide, 0) == Approx(0.0).margin(1e-12));
  CHECK(log_prob(wide, 1) == -1000.0);  // -2000 floored to -1000
  const std::vector<float> masked = {0.0f, -INFINITY};
  CHECK(log_prob(masked, 1) == -1000.0);
  CHECK_THROWS(log_prob(logits, 3));
}

TEST_CASE("is_greedy breaks ties to the lower id, as the sampler does", "[eval]") {
  const std::vector<float> logits = {3.0f, 3.0f, 1.0f};
  CHECK(is_greedy(logits, 0));
  CHECK_FALSE(is_greedy(logits, 1));
  CHECK_FALSE(is_greedy(logits, 2));
}

TEST_CASE("the paired likelihood difference is exactly 0 against itself and resolves a loss",
          "[eval]") {
  LikelihoodSamples dense, same, worse, noisy;
  for (int i = 0; i < 8; ++i) {
    const std::string id = "passkey/passkey/512/" + std::to_string(i);
    dense.logprob[id] = -0.5 - 0.1 * i;
    dense.greedy[id] = 1;
    same.logprob[id] = dense.logprob[id];
    same.greedy[id] = 1;
    worse.logprob[id] = dense.logprob[id] - 2.0 - 0.01 * i;
    worse.greedy[id] = 0;
    noisy.logprob[id] = dense.logprob[id] + (i % 2 ? 0.3 : -0.3);
    noisy.greedy[id] = 1;
  }
  json a, b, c;
  add_likelihood_fields(a, same, &dense, "k");
  CHECK(a["logprob_diff_vs_dense"] == 0.0);
  CHECK(a["logprob_diff_ci95"][0] == 0.0);
  CHECK(a["logprob_diff_ci95"][1] == 0.0);
  CHECK(a["logprob_diff_resolved"] == false);
  CHECK(a["greedy_match"] == 100.0);
  add_likelihood_fields(b, worse, &dense, "k");
  CHECK(b["logprob_diff_vs_dense"].get<double>() == Approx(-2.035).margin(1e-3));
  CHECK(b["logprob_diff_ci95"][1].get<double>() < -2.0);
  CHECK(b["logprob_diff_resolved"] == true);  // 8 of 8 pairs lower: sign test p = 0.008
  CHECK(b["greedy_match"] == 0.0);
  CHECK(b["greedy_match_ci95"][1].get<double>() > 30);  // Wilson's upper bound for 0 of 8
  add_likelihood_fields(c, noisy, &dense, "k");
  CHECK(c["logprob_diff_resolved"] == false);  // half up, half down
}

namespace {
json line(const std::string& mode, int i, double logprob, bool generated) {
  json p = {{"id", "passkey/passkey/512/" + std::to_string(i)},
            {"benchmark", "passkey"},
            {"task", "passkey"},
            {"length", 512},
            {"index", i},
            {"mode", mode},
            {"answers", {"12345"}},
            {"metric", "first_number_match"},
            {"prompt_tokens", 500},
            {"prefill_ms", 100.0},
            {"kv_held_bytes", 1000.0},
            {"kv_bytes", 2000.0},
            {"answer_logprob", logprob},
            {"answer_greedy", logprob > -1},
            {"answer_token_logprobs", {logprob}}};
  if (generated) {
    p["pred"] = logprob > -1 ? "12345" : "999";
    p["decode_steps"] = 3;
    p["decode_ms"] = 10.0;
    p["latency_ms"] = 110.0;
  } else {
    p["generated"] = false;
  }
  return p;
}
}  // namespace

TEST_CASE("scores carry answer likelihood per row and per length; likelihood-only runs no score",
          "[eval]") {
  for (bool generated : {true, false}) {
    std::vector<json> preds;
    for (int i = 0; i < 6; ++i) {
      preds.push_back(line("dense", i, -0.2, generated));
      preds.push_back(line("streaming", i, -9.0 - i, generated));
    }
    json scores = score_predictions(preds);
    REQUIRE(scores["rows"].size() == 2);
    const json& s = scores["rows"][1];
    REQUIRE(s["mode"] == "streaming");
    CHECK(s["logprob_n"] == 6);
    CHECK(s["logprob_diff_vs_dense"].get<double>() == Approx(-11.3).margin(1e-6));
    CHECK(s["logprob_diff_resolved"] == true);  // 6 of 6 lower: p = 0.031
    CHECK(s.contains("score") == generated);
    bool pooled = false;
    for (const auto& a : scores["averages"])
      if (a["mode"] == "streaming") {
        pooled = true;
        CHECK(a["logprob_diff_vs_dense"].get<double>() == Approx(-11.3).margin(1e-6));
        CHECK(a.contains("score") == generated);
        // Exact match's paired difference over the same pooled samples: 6 of 6 lost.
        CHECK(a.contains("diff_vs_dense") == generated);
        if (generated) {
          CHECK(a["diff_vs_dense"] == -100.0);
          CHECK(a["diff_n"] == 6);
          CHECK(a["diff_resolved"] == true);
        }
      }
    CHECK(pooled);
    const std::string table = format_table(scores);
    CHECK(table.find("-11.300 [") != std::string::npos);
    CHECK(table.find("log P(answer) - dense -11.300") != std::string::npos);
    const std::string svg = plot_scores_svg(scores, "t");  // a third panel: the likelihood
    CHECK(svg.find("log P(answer) - dense") != std::string::npos);
    CHECK((svg.find("<polyline") != std::string::npos));
  }
}

TEST_CASE("a likelihood field of the wrong type is a clear error", "[eval]") {
  json p = line("dense", 0, -0.2, true);
  p["answer_logprob"] = "high";
  CHECK_THROWS_WITH(check_likelihood_fields(p), Catch::Contains("answer_logprob"));
  p = line("dense", 0, -0.2, true);
  p.erase("answer_greedy");
  CHECK_THROWS_WITH(check_likelihood_fields(p), Catch::Contains("answer_greedy"));
}

namespace {

struct Passkeys {
  std::unique_ptr<Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  std::vector<EvalSample> samples;
};

Passkeys passkeys(int n, int64_t length) {
  Passkeys p;
  const std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  p.model = load_model(path);
  p.tok = tokenizer::Tokenizer::create(p.model->vocab);
  PromptFormat format(*p.tok, tokenizer::ChatTemplate::choose("", p.model->vocab));
  NeedleGenerator gen(format, "", 42);
  for (int i = 0; i < n; ++i) p.samples.push_back(gen.passkey(length, i));
  return p;
}

// id + mode -> the results line.
std::map<std::string, json> run(const Passkeys& p, const std::vector<std::string>& modes,
                                EvalMetric metric) {
  ModelOptions o;
  o.threads = 2;
  EvalRunner runner(*p.model, *p.tok, o, modes, p.samples, true, nullptr, metric);
  std::map<std::string, json> out;
  runner.run({}, [&](const json& l) {
    out[l["id"].get<std::string>() + " " + l["mode"].get<std::string>()] = l;
  });
  return out;
}

}  // namespace

TEST_CASE("answer likelihood on SmolLM2: covering budgets equal dense, a blind mode resolves",
          "[model][eval]") {
  const Passkeys p = passkeys(8, 512);
  // Budgets of the whole context steer attention as dense; a 32-token window (with 4 sinks) cannot
  // see a pass key that is not in the question's last tokens.
  const std::vector<std::string> modes = {"dense", "quest:budget=1024", "h2o:budget=1024",
                                          "streaming:sinks=4,window=32"};
  const auto both = run(p, modes, EvalMetric::Both);
  const auto forced = run(p, modes, EvalMetric::Likelihood);
  REQUIRE(both.size() == 32);
  int read_off = 0, taught = 0;
  for (const auto& s : p.samples) {
    const json& dense = both.at(s.id() + " dense");
    for (const std::string& m : modes) {
      const json& b = both.at(s.id() + " " + m);
      const json& f = forced.at(s.id() + " " + m);
      INFO(s.id() << " " << m << " answer " << b["answer_text"] << " pred " << b["pred"]);
      // Read off the generation or teacher-forced after a second prefill: the same numbers.
      CHECK(b["answer_logprob"].get<double>() == f["answer_logprob"].get<double>());
      CHECK(b["answer_token_logprobs"] == f["answer_token_logprobs"]);
      CHECK(b["answer_greedy"] == f["answer_greedy"]);
      CHECK(f.contains("score") == false);
      (b["likelihood_steps"].get<int64_t>() == 0 ? read_off : taught) += 1;
      if (m.starts_with("quest") || m.starts_with("h2o"))
        CHECK(b["answer_logprob"].get<double>() == dense["answer_logprob"].get<double>());
    }
  }
  // Both paths ran: answers the generation wrote, and answers it missed.
  CHECK(read_off > 0);
  CHECK(taught > 0);
  std::vector<json> lines;
  for (const auto& [k, l] : both) lines.push_back(l);
  const json scores = score_predictions(lines);
  for (const auto& r : scores["rows"]) {
    INFO(r.dump());
    if (r["mode"] == "dense") continue;
    if (r["mode"].get<std::string>().starts_with("streaming")) {
      CHECK(r["logprob_diff_vs_dense"].get<double>() < -3.0);
      CHECK(r["logprob_diff_resolved"] == true);
    } else {
      CHECK(r["logprob_diff_vs_dense"] == 0.0);
      CHECK(r["logprob_diff_resolved"] == false);
    }
  }
}
