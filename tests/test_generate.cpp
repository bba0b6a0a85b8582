// The one generation loop (engine/generate.h) that run, chat, serve and eval share, on a real
// model with its real tokenizer (SmolLM2-135M-Instruct): each way a generation ends, stop strings
// that form across tokens, text held back while it may still become a stop string, a character
// cut by the end, a full context, a listener that goes away.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/generate.h"
#include "engine/session.h"
#include "models/model.h"
#include "tests/fixtures.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;

namespace {

struct Fixture {
  std::unique_ptr<Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  Fixture() {
    const std::string path = test::model_path(test::kSmolLM2);
    if (!std::filesystem::exists(path)) FAIL(path << " is missing: run scripts/setup");
    model = load_model(path);
    tok = tokenizer::Tokenizer::create(model->vocab);
  }
  // A session over `prompt`, its last logits, and a greedy generation with `o`; `chunks`
  // receives what was emitted, one string per call.
  Generation run(const std::string& prompt, const GenerateOptions& o,
                 std::vector<std::string>* chunks = nullptr, int64_t n_ctx = 256,
                 int64_t* n_past = nullptr, std::function<bool(std::string_view)> emit = {}) {
    SessionOptions so;
    so.n_ctx = n_ctx;
    so.n_batch = 64;
    Session s(*model, so);
    std::vector<int32_t> ids = tok->encode(prompt, true, true);
    auto logits = s.eval(ids);
    Sampler greedy(SamplerOptions{.temperature = 0, .repeat_penalty = 1});
    GenerateHooks hooks;
    hooks.emit = emit ? emit : [chunks](std::string_view text) {
      if (chunks) chunks->emplace_back(text);
      return true;
    };
    Generation g = generate(s, *tok, greedy, logits, ids, o, hooks);
    if (n_past) *n_past = s.n_past() - int64_t(ids.size());
    return g;
  }
};

std::string joined(const std::vector<std::string>& chunks) {
  std::string all;
  for (const auto& c : chunks) all += c;
  return all;
}

const char* kPrompt = "The three largest cities of France are";

}  // namespace

TEST_CASE("generation: the budget, the text streamed whole, the tokens the session holds",
          "[generate][model]") {
  Fixture f;
  GenerateOptions o;
  o.max_tokens = 24;
  std::vector<std::string> chunks;
  int64_t held = 0;
  Generation g = f.run(kPrompt, o, &chunks, 256, &held);
  CHECK(g.finish == Finish::Limit);
  REQUIRE(g.tokens.size() == 24);
  CHECK(g.text == f.tok->decode(g.tokens, true));
  CHECK(joined(chunks) == g.text);
  // The last token is picked, not evaluated: the session holds the prompt and 23 of them.
  CHECK(g.decode_steps == 23);
  CHECK(held == 23);
}

TEST_CASE("generation: a stop string that forms across two tokens ends the text before it",
          "[generate][model]") {
  Fixture f;
  GenerateOptions o;
  o.max_tokens = 24;
  const Generation whole = f.run(kPrompt, o);
  REQUIRE(whole.tokens.size() == 24);
  // A stop string made of the end of token k's text and the start of token k+1's, found first
  // where they meet.
  std::string stop;
  size_t k = 0, at = 0;
  for (k = 2; k + 1 < whole.tokens.size(); ++k) {
    const std::string a = f.tok->token_to_piece(whole.tokens[k], true);
    const std::string b = f.tok->token_to_piece(whole.tokens[k + 1], true);
    if (a.size() < 2 || b.size() < 2) continue;
    const std::string before = f.tok->decode(std::span(whole.tokens).first(k + 1), true);
    stop = a.substr(a.size() - 2) + b.substr(0, 2);
    at = before.size() - 2;
    if (whole.text.find(stop) == at) break;
  }
  REQUIRE(k + 1 < whole.tokens.size());
  INFO("stop string '" << stop << "' at byte " << at << " of '" << whole.text << "'");
  o.stop = {stop};
  std::vector<std::string> chunks;
  const Generation g = f.run(kPrompt, o, &chunks);
  CHECK(g.finish == Finish::StopString);
  CHECK(g.text == whole.text.substr(0, at));
  // Nothing of the stop string reached the listener: the first half was held back.
  CHECK(joined(chunks) == g.text);
  CHECK(g.tokens == std::vector<int32_t>(whole.tokens.begin(), whole.tokens.begin() + k + 2));
}

TEST_CASE("generation: text that may become a stop string is held back until it cannot",
          "[generate][model]") {
  Fixture f;
  GenerateOptions o;
  o.max_tokens = 24;
  const Generation whole = f.run(kPrompt, o);
  // A word of the text followed by what never comes: held while it forms, then released.
  const std::string word = whole.text.substr(whole.text.size() / 3, 6);
  o.stop = {word + "\x01never"};
  std::vector<std::string> chunks;
  const Generation g = f.run(kPrompt, o, &chunks);
  CHECK(g.finish == Finish::Limit);
  CHECK(g.text == whole.text);
  CHECK(joined(chunks) == g.text);
  std::string sent;
  bool held = false;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {  // the last one is the end's release
    sent += chunks[i];
    INFO("emitted so far: '" << sent << "'");
    CHECK(pending_stop(sent, o.stop) == 0);
    held |= sent.size() < whole.text.find(word) + word.size() &&
            sent.size() + chunks[i + 1].size() > whole.text.find(word);
  }
  CHECK(held);
}

TEST_CASE("generation: end of generation, ignore_eos, stop tokens and min_tokens",
          "[generate][model]") {
  Fixture f;
  const std::string chat =
      "<|im_start|>user\nAnswer with one word: is water wet?<|im_end|>\n<|im_start|>assistant\n";
  GenerateOptions o;
  o.max_tokens = 40;
  const Generation g = f.run(chat, o);
  REQUIRE(g.finish == Finish::EndOfGeneration);
  REQUIRE(!g.tokens.empty());
  for (int32_t t : g.tokens) CHECK(!f.tok->is_end_of_generation(t));

  o.ignore_eos = true;
  o.max_tokens = int64_t(g.tokens.size()) + 3;
  const Generation past = f.run(chat, o);
  CHECK(past.finish == Finish::Limit);
  CHECK(f.tok->is_end_of_generation(past.tokens[g.tokens.size()]));
  CHECK(past.text.starts_with(g.text));

  GenerateOptions s;
  s.max_tokens = 24;
  const Generation whole = f.run(kPrompt, s);
  s.stop_tokens = {whole.tokens[3]};
  const Generation stopped = f.run(kPrompt, s);
  CHECK(stopped.finish == Finish::StopToken);
  CHECK(stopped.tokens.back() == whole.tokens[3]);
  CHECK(stopped.tokens.size() <= 4);
  // min_tokens keeps a stop token from being the first one (LongBench's samsum).
  s.stop_tokens = {whole.tokens[0]};
  s.min_tokens = 1;
  const Generation banned = f.run(kPrompt, s);
  CHECK(banned.tokens[0] != whole.tokens[0]);
}

TEST_CASE("generation: a full context ends it after the last token that fits",
          "[generate][model]") {
  Fixture f;
  const int64_t prompt = int64_t(f.tok->encode(kPrompt, true, true).size());
  GenerateOptions o;
  o.max_tokens = 100;
  int64_t held = 0;
  const Generation g = f.run(kPrompt, o, nullptr, prompt + 5, &held);
  CHECK(g.finish == Finish::ContextFull);
  CHECK(g.tokens.size() == 6);  // five evaluated, the sixth picked from the last logits
  CHECK(held == 5);
  o.max_tokens = 6;
  CHECK(f.run(kPrompt, o).tokens == g.tokens);
}

TEST_CASE("generation: a character cut by the end comes out as U+FFFD", "[generate][model]") {
  Fixture f;
  // SmolLM2 writes this emoji as two byte tokens: the budget ends between them.
  const std::string prompt =
      "<|im_start|>user\nRepeat exactly: 🎉🎉🎉<|im_end|>\n<|im_start|>assistant\n";
  GenerateOptions o;
  o.max_tokens = 16;
  const Generation whole = f.run(prompt, o);
  size_t cut = 0;
  for (size_t k = 1; k <= whole.tokens.size() && cut == 0; ++k) {
    const std::string part = f.tok->decode(std::span(whole.tokens).first(k), true);
    if (part.find("\xEF\xBF\xBD") != std::string::npos) cut = k;  // a partial character
  }
  REQUIRE(cut > 0);
  o.max_tokens = int64_t(cut);
  std::vector<std::string> chunks;
  const Generation g = f.run(prompt, o, &chunks);
  CHECK(g.text.ends_with("\xEF\xBF\xBD"));
  for (size_t i = 0; i + 1 < chunks.size(); ++i)  // no partial character before the end
    CHECK(chunks[i].find("\xEF\xBF\xBD") == std::string::npos);
}

TEST_CASE("generation: a listener that goes away ends it", "[generate][model]") {
  Fixture f;
  GenerateOptions o;
  o.max_tokens = 24;
  int calls = 0;
  const Generation g =
      f.run(kPrompt, o, nullptr, 256, nullptr, [&](std::string_view) { return ++calls < 2; });
  CHECK(g.finish == Finish::Cancelled);
  CHECK(calls == 2);
  CHECK(g.tokens.size() < 24);
}
