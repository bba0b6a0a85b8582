// Chat-template families against transformers' own Jinja rendering of the models' published
// templates (tests/fixtures/tokenizer/chat_templates.json, made by
// scripts/fixtures/make_chat_fixtures.py): Llama 3.2, Phi-3.5, Qwen3 with its thinking tags,
// Gemma 2 and Mistral Nemo's v3 [INST]. The family is detected from the markers of the template's
// text, then every conversation is rendered and compared byte for byte.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/error.h"
#include "tests/fixtures.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/pretokenize.h"

using namespace longctx;

TEST_CASE("chat templates render as transformers renders the published templates",
          "[tokenizer][chat]") {
  auto bytes = test::read_fixture("tokenizer/chat_templates.json");
  auto fx = nlohmann::json::parse(bytes.begin(), bytes.end());
  REQUIRE(fx["templates"].size() == 5);
  size_t compared = 0;
  for (const auto& t : fx["templates"]) {
    INFO("template " << t["name"].get<std::string>());
    tokenizer::Vocab v;
    const std::string bos = t["bos"], eos = t["eos"];
    v.tokens = {bos.empty() ? "<unused>" : bos, eos};
    v.bos = bos.empty() ? -1 : 0;
    v.eos = 1;
    for (const auto& m : t["markers"]) v.chat_template += m.get<std::string>() + "\n";
    auto tpl = tokenizer::ChatTemplate::detect(v);
    CHECK(tpl.name() == t["family"].get<std::string>());
    for (const auto& r : t["renders"]) {
      std::vector<tokenizer::ChatMessage> messages;
      for (const auto& m : r["messages"]) messages.push_back({m["role"], m["content"]});
      tpl.set_thinking(r["enable_thinking"]);
      INFO(r.dump());
      CHECK(tpl.render(messages, r["add_generation_prompt"]) == r["text"].get<std::string>());
      ++compared;
    }
  }
  CHECK(compared == 42);
}

TEST_CASE("Mistral v3 and Phi-3 templates keep their rules", "[tokenizer][chat]") {
  tokenizer::Vocab v;
  v.tokens = {"<s>", "</s>"};
  v.bos = 0;
  v.eos = 1;
  auto v3 = tokenizer::ChatTemplate::named("mistral-v3", v);
  std::vector<tokenizer::ChatMessage> two_users = {{"user", "a"}, {"user", "b"}};
  CHECK_THROWS_WITH(v3.render(two_users, true), Catch::Contains("alternate"));
  // The system message goes with the last user turn only when a user turn ends the conversation.
  std::vector<tokenizer::ChatMessage> ends_with_answer = {
      {"system", "S"}, {"user", "U"}, {"assistant", "A"}};
  CHECK(v3.render(ends_with_answer, false) == "<s>[INST]U[/INST]A</s>");
  auto phi3 = tokenizer::ChatTemplate::named("phi3", v);
  std::vector<tokenizer::ChatMessage> empty_system = {{"system", ""}, {"user", "U"}};
  CHECK(phi3.render(empty_system, true) == "<|user|>\nU<|end|>\n<|assistant|>\n");
}

// The byte-level BPE pre-tokenizers of the families whose vocabularies the tests do not fetch
// (Llama 3.x's llama-bpe) and of Qwen2, against `tokenizers` running the regex their
// tokenizer.json declares (tests/fixtures/tokenizer/pretokenizers.json, made by
// scripts/fixtures/make_pretokenizer_fixtures.py): every chunk byte for byte, on 337 strings.
TEST_CASE("pre-tokenizers split as tokenizers splits", "[tokenizer]") {
  auto bytes = test::read_fixture("tokenizer/pretokenizers.json");
  auto fx = nlohmann::json::parse(bytes.begin(), bytes.end());
  const auto strings = fx["strings"].get<std::vector<std::string>>();
  REQUIRE(strings.size() == 337);
  for (const auto& [name, splits] : fx["splits"].items()) {
    tokenizer::PreTokenizer pre(name);
    size_t bad = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      std::vector<std::string> ours;
      pre.split(strings[i], [&](std::string_view p) { ours.emplace_back(p); });
      if (ours != splits[i].get<std::vector<std::string>>()) {
        ++bad;
        UNSCOPED_INFO(name << " splits differently: " << nlohmann::json(strings[i]).dump());
      }
    }
    INFO(name);
    CHECK(bad == 0);
  }
}
