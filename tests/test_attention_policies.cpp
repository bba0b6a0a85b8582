// Attention policies: flag parsing, Quest's selection rules, and policies with a budget at least
// the context reproducing dense attention exactly on a real model.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/attention/registry.h"
#include "engine/session.h"
#include "kernels/common/fp16.h"
#include "kernels/cpu/attention.h"
#include "models/model.h"
#include "support/error.h"
#include "tests/fixtures.h"
#include "tests/host_cache.h"
#include "tests/session_runs.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;
using test::load_or_fail;
using test::logits_under;
using test::prompt_and_decode;

namespace {

// One decode step (the newest cached token's query) of layer 0 over everything `cache` holds.
StepInfo decode_step(const test::HostCache& cache, const float* q, int64_t n_head,
                     int64_t head_dim) {
  StepInfo step;
  step.n_kv_head = cache.book.n_kv_head();
  step.n_cached = cache.book.used(0);
  step.first_q_pos = step.n_cached - 1;
  step.q = q;
  step.n_q = 1;
  step.n_head = n_head;
  step.head_dim = head_dim;
  step.book = &cache.book;
  step.rows = &cache.rows;
  return step;
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
                    Catch::Contains("unknown parameter 'budget' for dense (known: observe)"));
  CHECK_THROWS_WITH(make_policy(parse_policy_spec("dense:observe=keys")),
                    Catch::Contains("observe=keys is not one of none, mass"));
  CHECK_THROWS_WITH(parse_policy_spec("quest:budget"), Catch::Contains("not key=value"));
  // Built for a layer of a model, a policy knows the model's layer count: Quest asked to leave
  // every layer dense is refused rather than run dense under its name.
  const PolicyContext layer0{0, 30, nullptr};
  CHECK_THROWS_WITH(
      make_policy(parse_policy_spec("quest:dense_layers=30"), layer0),
      Catch::Contains("dense_layers=30 leaves none of this model's 30 layers sparse"));
  CHECK(make_policy(parse_policy_spec("quest:dense_layers=29"), layer0)->name() ==
        "quest:budget=1024,page=16,dense_layers=29");
  CHECK(make_policy(parse_policy_spec("quest:dense_layers=30"))->name() ==
        "quest:budget=1024,page=16,dense_layers=30");  // no model yet: nothing to check against
  CHECK_THROWS_WITH(parse_policy_spec("quest:page=1,page=2"), Catch::Contains("given twice"));
  CHECK(split_policy_list("dense,quest:budget=512,page=8,h2o") ==
        std::vector<std::string>{"dense", "quest:budget=512,page=8", "h2o"});
  CHECK(split_policy_list("streaming:sinks=4,window=64") ==
        std::vector<std::string>{"streaming:sinks=4,window=64"});
  CHECK_THROWS_WITH(split_policy_list("dense,,h2o"), Catch::Contains("empty policy"));
  CHECK_THROWS_WITH(split_policy_list("dense,magic"), Catch::Contains("unknown attention policy"));
  CHECK_THROWS_WITH(make_policy(parse_policy_spec("recycled:similarity=2")),
                    Catch::Contains("similarity=2 is not a number in"));
  CHECK(make_policy(parse_policy_spec("recycled:refresh=query"))->name() ==
        "recycled:k=4096,stride=10,refresh=query,similarity=0.90");
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
  test::HostCache cache(KvLayout(n_kv, hd, hd, {cap, cap, cap}));
  std::vector<float> k(static_cast<size_t>(cached * n_kv * hd)), v(k.size());
  for (auto& x : k) x = normal(rng);
  std::vector<int32_t> pos(static_cast<size_t>(cached));
  for (int32_t i = 0; i < int32_t(cached); ++i) pos[size_t(i)] = i;
  for (int64_t layer = 0; layer < 3; ++layer)
    cache.append(layer, cached, k.data(), v.data(), pos.data());
  std::vector<float> q(static_cast<size_t>(n_kv * group * hd));
  for (auto& x : q) x = normal(rng);
  StepInfo step = decode_step(cache, q.data(), n_kv * group, hd);
  for (int64_t budget : {int64_t(40), int64_t(100), int64_t(256)}) {
    for (const char* heads : {"query", "group"}) {
      INFO("budget " << budget << ", heads=" << heads);
      auto policy =
          make_policy(parse_policy_spec("quest:page=16,dense_layers=0,heads=" + std::string(heads) +
                                        ",budget=" + std::to_string(budget)));
      Selection sel;
      policy->plan(step, sel);
      const int64_t rankings = sel.per_query_head ? n_kv * group : n_kv;
      CHECK(sel.per_query_head == (std::string(heads) == "query"));
      REQUIRE(sel.offsets.size() == size_t(rankings + 1));
      for (int64_t g = 0; g < rankings; ++g) {
        CHECK(sel.keys(g) <= std::max<int64_t>(budget, 3 * 16));  // at least three pages
        CHECK(sel.spans[size_t(sel.offsets[size_t(g + 1)] - 1)].end == cached);  // newest tokens
      }
    }
  }
  // The reference leaves the first two layers dense: by default so does ours.
  {
    auto policy = make_policy(parse_policy_spec("quest:page=16,budget=40"));
    Selection sel;
    for (int64_t layer : {0, 1, 2}) {
      step.layer = layer;
      policy->plan(step, sel);
      CHECK((sel.keys(0) == cached) == (layer < 2));
    }
    step.layer = 0;
  }
  // Within budget (or while prefilling) it is dense.
  auto policy = make_policy(parse_policy_spec("quest:budget=1000"));
  Selection sel;
  policy->plan(step, sel);
  CHECK(sel.spans.size() == size_t(n_kv));
  CHECK(sel.spans[0].begin == 0);
  CHECK(sel.spans[0].end == cached);
}

// Whether selection head h reads slot `slot`.
bool reads(const Selection& sel, int64_t h, int32_t slot) {
  for (int32_t i = sel.offsets[size_t(h)]; i < sel.offsets[size_t(h) + 1]; ++i)
    if (sel.spans[size_t(i)].begin <= slot && slot < sel.spans[size_t(i)].end) return true;
  return false;
}

TEST_CASE("Quest ranks pages per query head as its reference does; heads=group shares a ranking",
          "[attention]") {
  // One KV head of two query heads: head 0 looks for u, head 1 for w (orthogonal). Page 5 holds a
  // key along u, page 9 one along w; the budget buys two ranked pages besides the newest.
  const int64_t n_kv = 1, group = 2, hd = 16, page = 16, cached = 256;
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0, 0.3f);
  test::HostCache cache(KvLayout(n_kv, hd, hd, {cached}));
  std::vector<float> k(size_t(cached * hd)), v(k.size()), u(size_t(hd), 0.0f), w(u);
  for (auto& x : k) x = normal(rng);
  for (auto& x : v) x = normal(rng);
  for (int64_t d = 0; d < 4; ++d) u[size_t(d)] = 3.0f, w[size_t(d + 8)] = 3.0f;
  std::copy(u.begin(), u.end(), k.begin() + 5 * page * hd + 3 * hd);
  std::copy(w.begin(), w.end(), k.begin() + 9 * page * hd + 7 * hd);
  std::vector<int32_t> pos(static_cast<size_t>(cached));
  for (int32_t i = 0; i < int32_t(cached); ++i) pos[size_t(i)] = i;
  cache.append(0, cached, k.data(), v.data(), pos.data());
  std::vector<float> q(u);
  q.insert(q.end(), w.begin(), w.end());
  StepInfo step = decode_step(cache, q.data(), n_kv * group, hd);
  Selection query, shared;
  make_policy(parse_policy_spec("quest:page=16,budget=48,dense_layers=0"))->plan(step, query);
  make_policy(parse_policy_spec("quest:page=16,budget=48,dense_layers=0,heads=group"))
      ->plan(step, shared);
  REQUIRE(query.per_query_head);
  REQUIRE(query.offsets.size() == 3);
  CHECK(reads(query, 0, 5 * 16 + 3));
  CHECK_FALSE(reads(query, 0, 9 * 16 + 7));
  CHECK(reads(query, 1, 9 * 16 + 7));
  CHECK_FALSE(reads(query, 1, 5 * 16 + 3));
  REQUIRE_FALSE(shared.per_query_head);
  REQUIRE(shared.offsets.size() == 2);
  CHECK(reads(shared, 0, 5 * 16 + 3));
  CHECK(reads(shared, 0, 9 * 16 + 7));

  // The kernel reads each query head's own spans: head h's output equals a run in which the whole
  // group reads head h's spans.
  auto run = [&](const Selection& sel) {
    std::vector<float> out(size_t(group * hd));
    ModelConfig c;
    c.n_head = group;
    c.n_head_kv = 1;
    c.head_dim = hd;
    c.attention_scale = 0.25f;
    AttendStep step;
    step.n = 1;
    step.selection = &sel;
    const int32_t qp = int32_t(cached - 1);
    cpu::attention(
        host_attention_args(step, cache.book, cache.rows, c, q.data(), &qp, out.data(), nullptr));
    return out;
  };
  const std::vector<float> both = run(query);
  for (int64_t h = 0; h < group; ++h) {
    Selection one;
    one.clear();
    for (int32_t i = query.offsets[size_t(h)]; i < query.offsets[size_t(h) + 1]; ++i)
      one.add(query.spans[size_t(i)].begin, query.spans[size_t(i)].end);
    one.end_head();
    const std::vector<float> alone = run(one);
    for (int64_t d = 0; d < hd; ++d) CHECK(both[size_t(h * hd + d)] == alone[size_t(h * hd + d)]);
  }
}

TEST_CASE("streaming keeps sinks and a window, re-positioned as a fresh run would",
          "[model][attention]") {
  auto model = load_or_fail(test::kSmolLM2);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  auto ids = tok->encode(
      "It was a bright cold day in April, and the clocks were striking thirteen. Winston Smith, "
      "his chin nuzzled into his breast in an effort to escape the vile wind, slipped quickly",
      true, true);
  REQUIRE(ids.size() > 24);
  const int64_t n_layer = model->config.n_layer;
  Session streamed(
      *model,
      SessionOptions{
          128, 64, policies_for_all_layers("streaming:sinks=4,window=16,evict_every=1", n_layer)});
  streamed.eval(ids);
  // Only the 4 sinks and the 16 newest tokens remain, at positions 0..19 in every layer.
  for (int64_t il = 0; il < n_layer; ++il) {
    REQUIRE(streamed.book().used(il) == 20);
    for (int32_t s = 0; s < 20; ++s) CHECK(streamed.book().positions(il)[s] == s);
  }
  // Layer 0 keys depend only on the token and its position: after the shift they must equal a
  // fresh dense run over exactly the kept tokens (up to the half-precision rounding of
  // re-rotation).
  std::vector<int32_t> kept(ids.begin(), ids.begin() + 4);
  kept.insert(kept.end(), ids.end() - 16, ids.end());
  Session fresh(*model, SessionOptions{128, 64});
  fresh.eval(kept);
  const int64_t hd = model->config.head_dim;
  std::vector<float> a(static_cast<size_t>(hd)), b(static_cast<size_t>(hd));
  float worst = 0;
  for (int64_t g = 0; g < model->config.n_head_kv; ++g) {
    for (int64_t s = 0; s < 20; ++s) {
      streamed.rows().key(0, g, s, a.data());
      fresh.rows().key(0, g, s, b.data());
      for (int64_t d = 0; d < hd; ++d) {
        worst = std::max(worst, std::fabs(a[size_t(d)] - b[size_t(d)]) /
                                    std::max(1.0f, std::fabs(b[size_t(d)])));
      }
    }
  }
  CHECK(worst < 4e-3f);
  // Decoding goes on past the cache with eviction making room.
  int32_t one[1] = {ids.back()};
  for (int i = 0; i < 5; ++i) streamed.eval(one);
  CHECK(streamed.book().used(0) == 20);
}

TEST_CASE("every policy with a budget at least the context gives dense logits exactly",
          "[model][attention]") {
  for (const char* file : {test::kSmolLM2, test::kGemma3}) {
    auto model = load_or_fail(file);
    auto tok = tokenizer::Tokenizer::create(model->vocab);
    auto ids =
        tok->encode("The old map showed a river, three hills and a tower by the sea", true, true);
    for (KvType kv : {KvType::F16, KvType::Q8_0, KvType::Q4_0}) {
      auto dense = logits_under(*model, ids, "dense", 6, kv);
      for (const char* spec :
           {"streaming:sinks=4,window=124", "recycled:k=128,stride=2", "dhsa:budget=128",
            "quest:budget=128", "h2o:budget=128", "snapkv:budget=128,window=8"}) {
        INFO(file << " " << spec << " kv " << kv_type_name(kv));
        CHECK(logits_under(*model, ids, spec, 6, kv) == dense);
      }
    }
  }
}

TEST_CASE("small budgets change the logits but keep a working model", "[model][attention]") {
  auto model = load_or_fail(test::kSmolLM2);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  auto ids = tok->encode(
      "In the beginning the committee met every Tuesday, and the minutes of each meeting were "
      "read aloud before any new business could be discussed by the members present",
      true, true);
  auto dense = logits_under(*model, ids, "dense", 4);
  for (const char* spec : {"quest:budget=16,page=4", "recycled:k=8,stride=3",
                           "dhsa:budget=16,local=4,chunk_min=2,chunk_max=8,dense_tail=0,q_block=8",
                           "h2o:budget=16", "snapkv:budget=16,window=4"}) {
    INFO(spec);
    auto sparse = logits_under(*model, ids, spec, 4);
    REQUIRE(sparse.size() == dense.size());
    CHECK(sparse != dense);
    for (float x : sparse) REQUIRE(std::isfinite(x));
  }
  // The session hands recycled's group rule to the statistics kernel: max and sum choose apart.
  CHECK(logits_under(*model, ids, "recycled:k=8,stride=3", 4) !=
        logits_under(*model, ids, "recycled:k=8,stride=3,group=sum", 4));
}

TEST_CASE("after clear() a session runs its next prompt as a fresh session does, every policy",
          "[model][attention]") {
  // An eval reuses one session per mode for every sample, and chat resets it: no policy state
  // (Quest's page summaries, DHSA's chunks, recycled's top-k, H2O's scores) may carry over.
  auto model = load_or_fail(test::kSmolLM2);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  auto first = tok->encode(
      "Seven violet herons circled the quarry while the foreman counted crates of slate, "
      "shouting numbers at the wind until the whistle blew for the noon break",
      true, true);
  auto second = tok->encode(
      "In the beginning the committee met every Tuesday, and the minutes of each meeting were "
      "read aloud before any new business could be discussed by the members present",
      true, true);
  for (const char* spec :
       {"quest:budget=16,page=4", "recycled:k=8,stride=3",
        "dhsa:budget=16,local=4,chunk_min=2,chunk_max=8,dense_tail=0,q_block=8", "h2o:budget=16",
        "snapkv:budget=16,window=4", "streaming:sinks=2,window=12,evict_every=4"}) {
    INFO(spec);
    const SessionOptions o{128, 16, policies_for_all_layers(spec, model->config.n_layer)};
    Session reused(*model, o);
    prompt_and_decode(reused, first, 6);
    reused.clear();
    Session fresh(*model, o);
    CHECK(prompt_and_decode(reused, second, 6) == prompt_and_decode(fresh, second, 6));
  }
}

TEST_CASE("Gemma 3's sliding-window layers stay dense whatever the policy", "[model][attention]") {
  auto model = load_or_fail(test::kGemma3);
  const ModelConfig& c = model->config;
  Session s(*model, SessionOptions{256, 64, policies_for_all_layers("h2o:budget=16", c.n_layer)});
  std::vector<int32_t> ids(100, 1000);
  ids[0] = 2;
  s.eval(ids);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    INFO("layer " << il);
    if (c.layer_is_local[size_t(il)]) {
      CHECK(s.policy_name(il) == "sliding-window:512");
      CHECK(s.book().used(il) == 100);
    } else {
      CHECK(s.policy_name(il) == "h2o:budget=16,recent=8");
      CHECK(s.book().used(il) == 16);
    }
  }
}

TEST_CASE("needle: dense finds a pass key in a 1.5k-token haystack; a window without it does not",
          "[model][attention]") {
  auto model = load_or_fail(test::kSmolLM2);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  const std::string filler =
      "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
  std::string prompt =
      "There is an important info hidden inside a lot of irrelevant text. Find it and memorize "
      "it. I will quiz you about the important information there.\n";
  for (int i = 0; i < 60; ++i) {
    if (i == 20) prompt += "The pass key is 68213. Remember it. 68213 is the pass key. ";
    prompt += filler;
  }
  prompt += "\nWhat is the pass key? The pass key is";
  auto ids = tok->encode(prompt, true, false);
  REQUIRE(ids.size() > 1400);
  auto answer = [&](const std::string& attn) {
    Session s(*model,
              SessionOptions{2048, 512, policies_for_all_layers(attn, model->config.n_layer)});
    auto logits = s.eval(ids);
    std::string text;
    for (int i = 0; i < 8; ++i) {
      int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
      std::vector<int32_t> piece{next};
      text += tok->decode(piece);
      int32_t one[1] = {next};
      logits = s.eval(one);
    }
    return text;
  };
  CHECK_THAT(answer("dense"), Catch::Contains("68213"));
  // The needle sits ~500 tokens deep in ~1500: a 256-token window has let it go.
  CHECK_THAT(answer("streaming:sinks=4,window=256"), !Catch::Contains("68213"));
  // Recycled attention's full steps see the whole prompt and keep the needle's keys; DHSA (as its
  // reference, a sparse prefill and dense decoding) and Quest at a quarter of the prompt find it.
  CHECK_THAT(answer("recycled:k=256"), Catch::Contains("68213"));
  CHECK_THAT(answer("dhsa:budget=256"), Catch::Contains("68213"));
  CHECK_THAT(answer("quest:budget=384"), Catch::Contains("68213"));
  // Measured 2026-11-30 with the reference defaults: quest at a sixth of the prompt answers
  // "68133", snapkv "6823" (and "6821" at 384), h2o "6." at 256 and 384: the eviction policies lose
  // digits of a needle that only the question, after the prompt, makes important. Reported.
  for (const char* spec : {"quest:budget=256", "h2o:budget=256", "snapkv:budget=256"}) {
    std::string text = answer(spec);
    WARN(spec << (text.find("68213") != std::string::npos ? ": found" : ": missed") << " ('" << text
              << "')");
  }
}

TEST_CASE("Gemma 3's local layers drop keys older than the window without changing the logits",
          "[model][attention]") {
  auto model = load_or_fail(test::kGemma3);
  const ModelConfig& c = model->config;
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  std::string text;
  for (int i = 0; i < 70; ++i)
    text += "Line " + std::to_string(i) + ": the tide came in and went out. ";
  auto ids = tok->encode(text, true, false);
  REQUIRE(ids.size() > 800);
  // Small chunks evict between chunks; one big chunk attends before anything leaves.
  Session chunked(*model, SessionOptions{1024, 64});
  Session whole(*model, SessionOptions{1024, 1024});
  auto a = chunked.eval(ids);
  std::vector<float> first(a.begin(), a.end());
  auto b = whole.eval(ids);
  float worst = 0, scale = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    worst = std::max(worst, std::fabs(first[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  CHECK(worst < 2e-3f * scale);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    if (!c.layer_is_local[size_t(il)]) continue;
    CHECK(chunked.book().used(il) <= c.sliding_window + 63);
    CHECK(whole.book().used(il) <= c.sliding_window + 63);
  }
  CHECK(chunked.kv_bytes() < whole.kv_bytes());  // a 64-token chunk needs less room than 1024
}

// Shared prefill: a session that takes the first chunks of a prompt from a dense session's cache
// (adopt_prefix) and evaluates the rest itself gives the same logits, bit for bit, and holds the
// same positions as one that evaluated the whole prompt, for every policy that says it shares its
// prefill; those that do not say so (H2O scores, DHSA's sparse prefill, windowed streaming). Gemma
// 3 adds sliding-window layers that evict while the prompt runs. A dense session recording the
// attention mass (dense:observe=mass) serves them all the same, and H2O too: its whole-prompt
// score taken over from the recorder, it evicts the tokens a separate run evicts.
TEST_CASE("a prefix adopted from a dense session gives a separate run's results, bit for bit",
          "[model][attention]") {
  struct Case {
    const char* file;
    const char* base;
    std::vector<std::string> shared, unshared;
  };
  const std::vector<Case> cases = {
      {test::kSmolLM2,
       "dense",
       {"dense", "streaming:sinks=4,window=64", "recycled:k=64,stride=3",
        "quest:budget=64,page=16,dense_layers=1", "snapkv:budget=96,window=32"},
       {"h2o:budget=96", "dhsa:budget=96,local=32,q_block=32,dense_tail=32",
        "streaming:sinks=4,window=64,prefill=windowed"}},
      {test::kSmolLM2,
       "dense:observe=mass",
       {"h2o:budget=96", "h2o:budget=200,recent=50,sinks=4,score=mean", "dense",
        "quest:budget=64,page=16,dense_layers=1", "snapkv:budget=96,window=32"},
       {"h2o:budget=96,prefill=chunked", "dhsa:budget=96,local=32,q_block=32,dense_tail=32"}},
      {test::kGemma3, "dense", {"snapkv:budget=96,window=32"}, {"h2o:budget=96"}},
      {test::kGemma3, "dense:observe=mass", {"h2o:budget=96", "snapkv:budget=96,window=32"}, {}},
  };
  for (const Case& c : cases) {
    auto model = load_or_fail(c.file);
    const int64_t n_layer = model->config.n_layer, n_vocab = model->config.n_vocab;
    std::mt19937 rng(11);
    std::vector<int32_t> ids(300);
    for (auto& t : ids) t = int32_t(rng() % uint32_t(n_vocab));
    const int64_t n_ctx = 320, batch = 64;
    Session base(*model, SessionOptions{n_ctx, batch, policies_for_all_layers(c.base, n_layer)});
    for (const std::string& spec : c.unshared) {
      Session s(*model, SessionOptions{n_ctx, batch, policies_for_all_layers(spec, n_layer)});
      INFO(spec << " from " << c.base);
      CHECK_FALSE(s.shares_prefill());
      CHECK_FALSE(s.can_adopt_prefix(base));
      CHECK_THROWS_WITH(s.adopt_prefix(base), Catch::Contains("cannot take"));
    }
    for (const std::string& spec : c.shared) {
      INFO(c.file << ", " << spec << " from " << c.base);
      const SessionOptions so{n_ctx, batch, policies_for_all_layers(spec, n_layer)};
      auto run = [&](Session& s, std::span<const int32_t> rest) {
        std::vector<float> out;
        auto logits = s.eval(rest);
        for (int step = 0; step < 6; ++step) {  // the prompt's logits, then greedy decoding
          out.insert(out.end(), logits.begin(), logits.end());
          int32_t next[1] = {
              int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin())};
          logits = s.eval(next);
        }
        return out;
      };
      Session alone(*model, so);
      const std::vector<float> want = run(alone, ids);
      Session forked(*model, so);
      REQUIRE(forked.can_adopt_prefix(base));
      const int64_t p = forked.prefill_boundary(int64_t(ids.size()), forked.min_last_chunk());
      CHECK(p == 256);  // 300 - 32 (SnapKV's window) rounded down to the batch
      base.clear();
      base.eval(std::span<const int32_t>(ids).first(size_t(p)));
      forked.adopt_prefix(base);
      CHECK(forked.n_past() == p);
      const std::vector<float> got = run(forked, std::span<const int32_t>(ids).subspan(size_t(p)));
      REQUIRE(got.size() == want.size());
      size_t differ = 0;  // counted: Catch would print both 300k-element vectors
      for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
      CHECK(differ == 0);
      for (int64_t il = 0; il < n_layer; ++il) {
        REQUIRE(forked.book().used(il) == alone.book().used(il));
        const int32_t* a = alone.book().positions(il);
        const int32_t* b = forked.book().positions(il);
        CHECK(std::equal(a, a + alone.book().used(il), b));
      }
    }
  }
}

// SmolLM3 (every 4th layer without RoPE), as a folder and as the converter's GGUF: every policy
// with a budget that covers the context is dense, bit for bit, NoPE layers included.
TEST_CASE("every policy with a full budget gives dense logits on a model with NoPE layers",
          "[model][attention]") {
  for (const char* file : {"tiny/tiny-smollm3", "tiny/tiny-smollm3.gguf"}) {
    auto model = load_or_fail(file);
    REQUIRE(!model->config.rotates(3));
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < 40; ++i) ids.push_back(int32_t((i * 7919 + 13) % 49152));
    auto dense = logits_under(*model, ids, "dense", 6);
    for (const char* spec :
         {"streaming:sinks=4,window=124", "recycled:k=128,stride=2", "dhsa:budget=128",
          "quest:budget=128", "h2o:budget=128", "snapkv:budget=128,window=8"}) {
      INFO(file << " " << spec);
      CHECK(logits_under(*model, ids, spec, 6) == dense);
    }
  }
}

// Streaming moves the kept keys to new positions by rotating them back; a layer without RoPE has
// nothing to rotate, so its rows stay what they were, bit for bit, while a RoPE layer's change.
TEST_CASE("streaming's position shift leaves a NoPE layer's keys as they were",
          "[model][attention]") {
  auto model = load_or_fail("tiny/tiny-smollm3");
  const int64_t nope = 3, rope = 0, hd = model->config.head_dim;
  REQUIRE(!model->config.rotates(nope));
  REQUIRE(model->config.rotates(rope));
  Session s(*model,
            SessionOptions{128, 64,
                           policies_for_all_layers("streaming:sinks=4,window=16,evict_every=1",
                                                   model->config.n_layer)});
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < 20; ++i) ids.push_back(int32_t((i * 104729 + 7) % 49152));
  s.eval(ids);  // 4 sinks and 16 tokens: nothing evicted yet
  REQUIRE(s.book().used(nope) == 20);
  auto rows_of = [&](int64_t layer) {
    std::vector<float> all(size_t(20 * model->config.n_head_kv * hd));
    for (int64_t g = 0; g < model->config.n_head_kv; ++g)
      for (int64_t slot = 0; slot < 20; ++slot)
        s.rows().key(layer, g, slot, all.data() + (g * 20 + slot) * hd);
    return all;
  };
  const auto nope_before = rows_of(nope), rope_before = rows_of(rope);
  for (int32_t t : {11, 22, 33, 44}) {  // four tokens: the window's four oldest leave
    int32_t one[1] = {t};
    s.eval(one);
  }
  REQUIRE(s.book().used(nope) == 20);
  for (int32_t slot = 0; slot < 20; ++slot) CHECK(s.book().positions(nope)[slot] == slot);
  const auto nope_after = rows_of(nope), rope_after = rows_of(rope);
  // Window slots 4..15 now hold the tokens that were in slots 8..19, four positions earlier.
  int nope_changed = 0, rope_changed = 0;
  for (int64_t g = 0; g < model->config.n_head_kv; ++g) {
    for (int64_t slot = 4; slot < 16; ++slot) {
      const float* was = nope_before.data() + (g * 20 + slot + 4) * hd;
      const float* now = nope_after.data() + (g * 20 + slot) * hd;
      nope_changed += std::memcmp(was, now, size_t(hd) * 4) != 0;
      rope_changed += std::memcmp(rope_before.data() + (g * 20 + slot + 4) * hd,
                                  rope_after.data() + (g * 20 + slot) * hd, size_t(hd) * 4) != 0;
    }
  }
  CHECK(nope_changed == 0);
  CHECK(rope_changed == 24);  // every moved row of the RoPE layer was re-rotated
}
