// The commands as functions (cmd/): what `longctx run` and `longctx chat` print, called the way
// main() calls them but with input and output captured, on a real model (SmolLM2-135M-Instruct),
// greedily.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cmd/chat.h"
#include "cmd/info.h"
#include "cmd/run.h"
#include "cmd/tokenize.h"
#include "engine/generate.h"
#include "engine/session.h"
#include "models/model.h"
#include "support/error.h"
#include "tests/fixtures.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;

namespace {

// A temporary file standing in for stdout or stderr; text() reads back what was written.
struct Capture {
  std::FILE* f = std::tmpfile();
  ~Capture() { std::fclose(f); }
  std::string text() const {
    std::fflush(f);
    std::string out;
    std::rewind(f);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    return out;
  }
};

cmd::RunOptions greedy_run(const std::string& prompt, int n) {
  cmd::RunOptions o;
  o.model.model = test::model_path(test::kSmolLM2);
  o.model.n_ctx = 256;
  o.model.threads = 2;
  o.sampler.temperature = 0;
  o.prompt = prompt;
  o.n_predict = n;
  o.ignore_eos = true;
  return o;
}

}  // namespace

TEST_CASE("run prints the continuation and ends it before a stop string", "[model]") {
  const std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL(path << " is missing: run scripts/setup");
  Capture out, err;
  REQUIRE(cmd::run_prompt(greedy_run("The three primary colors are", 24), out.f, err.f) == 0);
  std::string text = out.text();
  REQUIRE(text.size() > 12);
  REQUIRE(text.back() == '\n');  // the continuation, then a newline
  text.pop_back();
  CHECK(err.text().find("longctx timings (stopped: limit)") != std::string::npos);

  // A stop string taken from the middle of that continuation: the same greedy run must print
  // exactly the text before its first occurrence and say why it stopped.
  const std::string stop = text.substr(text.size() / 2, 3);
  cmd::RunOptions o = greedy_run("The three primary colors are", 24);
  o.stop = {stop};
  Capture out2, err2;
  REQUIRE(cmd::run_prompt(o, out2.f, err2.f) == 0);
  CHECK(out2.text() == text.substr(0, text.find(stop)) + "\n");
  CHECK(err2.text().find("longctx timings (stopped: stop string)") != std::string::npos);
}

TEST_CASE("run refuses a missing or empty prompt before it loads anything", "[model]") {
  Capture out, err;
  cmd::RunOptions o = greedy_run("", 4);
  CHECK_THROWS_WITH(cmd::run_prompt(o, out.f, err.f), "run: give -p PROMPT or -f FILE");
  CHECK(out.text().empty());
}

TEST_CASE("chat's second reply, on the cache its first turn left, equals a fresh session's",
          "[model]") {
  const std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL(path << " is missing: run scripts/setup");
  const std::string q1 = "What is the capital of France?", q2 = "And the capital of Italy?";
  cmd::ChatOptions o;
  o.model.model = path;
  o.model.n_ctx = 512;
  o.model.threads = 2;
  o.sampler.temperature = 0;
  o.n_predict = 12;
  std::istringstream in(q1 + "\n" + q2 + "\n");
  Capture out, err;
  REQUIRE(cmd::chat(o, in, out.f, err.f, /*interactive=*/false) == 0);
  CHECK(err.text().find("> ") == std::string::npos);  // nobody types: no prompts

  // The reference renders the whole conversation so far and generates on a fresh session; chat
  // evaluates only what follows the tokens its cache already holds.
  auto model = load_model(path);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  auto tpl = tokenizer::ChatTemplate::choose("", tok->vocab());
  auto reply = [&](const std::vector<tokenizer::ChatMessage>& messages) {
    SessionOptions so;
    so.n_ctx = 512;
    Session s(*model, so);
    std::vector<int32_t> ids = tok->encode(tpl.render(messages, true), false, true);
    auto logits = s.eval(ids);
    Sampler greedy(SamplerOptions{.temperature = 0, .repeat_penalty = 1});
    GenerateOptions go;
    go.max_tokens = 12;
    return generate(s, *tok, greedy, logits, ids, go, {}).text;
  };
  const std::string r1 = reply({{"user", q1}});
  const std::string r2 = reply({{"user", q1}, {"assistant", r1}, {"user", q2}});
  REQUIRE(!r1.empty());
  CHECK(out.text() == r1 + "\n" + r2 + "\n");
}

TEST_CASE("tokenize prints ids, parsing special-token text unless told not to", "[model]") {
  const std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL(path << " is missing: run scripts/setup");
  cmd::TokenizeOptions o;
  o.model = path;
  o.text = "<|im_start|>user";
  o.ids = true;
  Capture out, err;
  REQUIRE(cmd::tokenize_text(o, out.f, err.f) == 0);
  CHECK(out.text().rfind("[1, ", 0) == 0);  // SmolLM2's <|im_start|> is id 1
  o.no_special = true;
  Capture plain, err2;
  REQUIRE(cmd::tokenize_text(o, plain.f, err2.f) == 0);
  CHECK(plain.text().rfind("[1, ", 0) == std::string::npos);
  CHECK(plain.text().find(", 1,") == std::string::npos);
  o.ids = false;
  o.count = true;
  Capture count, err3;
  REQUIRE(cmd::tokenize_text(o, count.f, err3.f) == 0);
  // As many tokens as the id list holds.
  const std::string list = plain.text();
  CHECK(count.text() == std::to_string(std::count(list.begin(), list.end(), ',') + 1) + "\n");
}

TEST_CASE("info describes the model the loader loads, as JSON", "[model]") {
  const std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL(path << " is missing: run scripts/setup");
  cmd::InfoOptions o;
  o.model = path;
  o.json = true;
  Capture out;
  REQUIRE(cmd::info(o, out.f) == 0);
  auto j = nlohmann::json::parse(out.text());
  auto model = load_model(path);
  CHECK(j["layers"].get<int64_t>() == model->config.n_layer);
  CHECK(j["heads"].get<int64_t>() == model->config.n_head);
  CHECK(j["context_length"].get<int64_t>() == model->config.n_ctx_train);
  CHECK(j["tensors"].size() == 272);  // SmolLM2-135M: 30 layers x 9 + embedding + output norm
}
