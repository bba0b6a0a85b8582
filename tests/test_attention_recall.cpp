// Attention recall (engine/attention/recall.h): the number against an independent softmax for
// chosen selections (all keys exactly 1; the best keys more than random ones, the worst least),
// and on SmolLM2 under every policy: a budget covering the context scores exactly 1 at every
// decode step, layer and head; small budgets score in (0, 1), and the record follows the cache
// through every eviction (a slot read whose token the record lost is an error).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "engine/attention/recall.h"
#include "engine/session.h"
#include "models/model.h"
#include "tests/fixtures.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;

TEST_CASE("attention recall is the dense softmax mass of the keys read", "[attention]") {
  const int64_t dim = 32, n = 64;
  KvBook book(KvLayout(1, dim, dim, {n}, KvType::F16));
  KvRows rows(book.layout());
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> k(static_cast<size_t>(n * dim)), q(static_cast<size_t>(dim));
  for (auto& x : k) x = normal(rng);
  for (auto& x : q) x = normal(rng);
  std::vector<int32_t> pos(static_cast<size_t>(n));
  std::iota(pos.begin(), pos.end(), 0);
  const int64_t first = book.append(0, n, pos.data());
  rows.write(0, first, n, k.data(), k.data());
  AttentionRecall recall(1, 1, dim, 0.0f, {true});
  recall.appended(0, book, rows, 0, n, 0, {});
  // The reference: the softmax over the keys as the cache holds them (f16), in double.
  const double scale = 1 / std::sqrt(double(dim));
  std::vector<double> p(static_cast<size_t>(n));
  std::vector<float> key(static_cast<size_t>(dim));
  for (int64_t t = 0; t < n; ++t) {
    rows.key(0, 0, t, key.data());
    double dot = 0;
    for (int64_t d = 0; d < dim; ++d) dot += double(q[size_t(d)]) * double(key[size_t(d)]);
    p[size_t(t)] = dot * double(float(scale));  // the scale as the model's config holds it
  }
  const double max = *std::max_element(p.begin(), p.end());
  double z = 0;
  for (auto& x : p) z += (x = std::exp(x - max));
  for (auto& x : p) x /= z;
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  auto measure = [&](std::vector<int32_t> tokens) {
    std::sort(tokens.begin(), tokens.end());
    Selection sel;
    sel.clear();
    for (int32_t t : tokens) sel.add(t, t + 1);
    sel.end_head();
    recall.measure(0, q.data(), float(scale), sel, book, 0, {});
    REQUIRE(recall.per_head().size() == 1);
    return recall.per_head()[0];
  };
  CHECK(measure(std::vector<int32_t>(order.begin(), order.end())) == 1.0);  // exactly
  const std::vector<int32_t> best(order.begin(), order.begin() + 16);
  const std::vector<int32_t> worst(order.end() - 16, order.end());
  std::vector<int32_t> shuffled = order;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const std::vector<int32_t> some(shuffled.begin(), shuffled.begin() + 16);
  auto mass = [&](const std::vector<int32_t>& ts) {
    double m = 0;
    for (int32_t t : ts) m += p[size_t(t)];
    return m;
  };
  const double r_best = measure(best), r_worst = measure(worst), r_some = measure(some);
  CHECK(r_best == Approx(mass(best)).epsilon(1e-9));
  CHECK(r_worst == Approx(mass(worst)).epsilon(1e-9));
  CHECK(r_some == Approx(mass(some)).epsilon(1e-9));
  CHECK(r_best > r_some);
  CHECK(r_some > r_worst);
  CHECK(recall.count() == 4);
  CHECK(recall.mean() == Approx((1.0 + r_best + r_worst + r_some) / 4).epsilon(1e-12));
}

namespace {

// Prompt, then `steps` greedy tokens, with recall on: the session's mean and count.
struct Measured {
  double mean = 0;
  int64_t count = 0;
};

Measured run_with_recall(const Model& model, const std::vector<int32_t>& prompt,
                         const std::string& spec, int steps) {
  SessionOptions so{256, 64, policies_for_all_layers(spec, model.config.n_layer)};
  so.attention_recall = true;
  Session s(model, so);
  auto logits = s.eval(prompt);
  Measured m;
  for (int i = 0; i < steps; ++i) {
    const int32_t next[1] = {
        int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin())};
    logits = s.eval(next);
  }
  m.mean = s.recall()->mean();
  m.count = s.recall()->count();
  return m;
}

}  // namespace

TEST_CASE("attention recall on SmolLM2: 1 exactly where the budget covers, below where not",
          "[model][attention]") {
  const std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  auto model = load_model(path);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  std::string text;
  for (int i = 0; i < 12; ++i)
    text += "The archive kept letters from every harbour town, sorted by the year they arrived. ";
  std::vector<int32_t> prompt = tok->encode(text, true, false);
  REQUIRE(prompt.size() > 150);
  prompt.resize(150);
  const int steps = 6;
  const int64_t per_step = model->config.n_layer * model->config.n_head;
  for (const char* spec :
       {"dense", "quest:budget=1024", "h2o:budget=1024", "snapkv:budget=1024",
        "streaming:sinks=4,window=1020", "recycled:k=1024,stride=2", "dhsa:budget=1024"}) {
    INFO(spec);
    const Measured m = run_with_recall(*model, prompt, spec, steps);
    CHECK(m.count == steps * per_step);
    CHECK(m.mean == 1.0);  // every step, layer and head read every key it holds
  }
  for (const char* spec : {"quest:budget=32,page=8", "h2o:budget=48", "snapkv:budget=48,window=16",
                           "streaming:sinks=4,window=28", "recycled:k=16,stride=2",
                           "dhsa:budget=48,local=16,q_block=16,dense_tail=16,decode=sparse"}) {
    INFO(spec);
    const Measured m = run_with_recall(*model, prompt, spec, steps);
    CHECK(m.count == steps * per_step);
    CHECK(m.mean > 0.05);
    CHECK(m.mean < 0.999);
  }
}
