// Tokenizers against Hugging Face transformers/tokenizers on the real models' GGUF vocabularies
// (tests/fixtures/tokenizer, written by scripts/fixtures/make_tokenizer_fixtures.py): ids with and
// without special-token parsing, chat-template renderings and their ids, decoding and streaming.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/gguf.h"
#include "models/gguf_vocab.h"
#include "tests/fixtures.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

using namespace longctx;
using tokenizer::Token;

namespace {

std::unique_ptr<tokenizer::Tokenizer> load(const char* model) {
  std::string path = test::model_path(model);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  return tokenizer::Tokenizer::create(read_vocab(gguf::File::open(path)));
}

nlohmann::json fixture(const char* model) {
  auto bytes = test::read_fixture(std::string("tokenizer/") + model + ".json");
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}

std::string show(const std::vector<Token>& ids) {
  std::string s;
  for (Token t : ids) s += (s.empty() ? "" : " ") + std::to_string(t);
  return s;
}

void check_ids_match_reference(const char* model) {
  auto tok = load(model);
  auto fx = fixture(model);
  REQUIRE(fx["cases"].size() >= 300);
  size_t bad = 0, bad_plain = 0;
  for (const auto& c : fx["cases"]) {
    std::string text = c["text"];
    auto ids = tok->encode(text, true, true);
    auto plain = tok->encode(text, false, false);
    if (ids != c["ids"].get<std::vector<Token>>() && bad++ < 5) {
      UNSCOPED_INFO("text " << nlohmann::json(text).dump() << "\n  ours " << show(ids)
                            << "\n  ref  " << show(c["ids"].get<std::vector<Token>>()));
    }
    if (plain != c["ids_no_special"].get<std::vector<Token>>() && bad_plain++ < 5) {
      UNSCOPED_INFO("(no special) text " << nlohmann::json(text).dump() << "\n  ours "
                                         << show(plain) << "\n  ref  "
                                         << show(c["ids_no_special"].get<std::vector<Token>>()));
    }
  }
  CHECK(bad == 0);
  CHECK(bad_plain == 0);
}

void check_chat_matches_reference(const char* model) {
  auto tok = load(model);
  auto fx = fixture(model);
  auto tpl = tokenizer::ChatTemplate::detect(tok->vocab());
  for (const auto& chat : fx["chat"]) {
    std::vector<tokenizer::ChatMessage> messages;
    for (const auto& m : chat["messages"]) messages.push_back({m["role"], m["content"]});
    std::string text = tpl.render(messages, chat["add_generation_prompt"]);
    INFO(chat.dump());
    CHECK(text == chat["text"].get<std::string>());
    CHECK(tok->encode(text, false, true) == chat["ids"].get<std::vector<Token>>());
  }
}

void check_decoding(const char* model) {
  auto tok = load(model);
  auto fx = fixture(model);
  size_t bad = 0;
  for (const auto& c : fx["cases"]) {
    std::string text = c["text"];
    auto ids = tok->encode(text, false, false);
    std::string whole = tok->decode(ids);
    tokenizer::StreamDecoder stream(*tok);
    std::string streamed;
    for (Token t : ids) {
      std::string piece = stream.push(t);
      // Every streamed piece ends on a character boundary.
      if (tokenizer::utf8::complete_prefix(piece) != piece.size()) ++bad;
      streamed += piece;
    }
    streamed += stream.flush();
    if ((whole != text || streamed != text) && bad++ < 5) {
      UNSCOPED_INFO("round trip of " << nlohmann::json(text).dump() << " gave "
                                     << nlohmann::json(whole).dump());
    }
  }
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("SmolLM2 BPE ids equal transformers'", "[model][tokenizer]") {
  check_ids_match_reference(test::kSmolLM2);
}
TEST_CASE("Gemma 3 SentencePiece ids equal transformers'", "[model][tokenizer]") {
  check_ids_match_reference(test::kGemma3);
}
TEST_CASE("Qwen2.5 BPE ids equal transformers'", "[model][tokenizer]") {
  check_ids_match_reference(test::kQwen2);
}
TEST_CASE("Qwen2.5 chat template renders as transformers does", "[model][tokenizer]") {
  check_chat_matches_reference(test::kQwen2);
}
TEST_CASE("SmolLM2 chat template renders as transformers does", "[model][tokenizer]") {
  check_chat_matches_reference(test::kSmolLM2);
}
TEST_CASE("Gemma 3 chat template renders as transformers does", "[model][tokenizer]") {
  check_chat_matches_reference(test::kGemma3);
}
TEST_CASE("decoding and streaming give the text back", "[model][tokenizer]") {
  check_decoding(test::kSmolLM2);
  check_decoding(test::kGemma3);
  check_decoding(test::kQwen2);
}

TEST_CASE("special ids and end-of-generation tokens", "[model][tokenizer]") {
  auto smol = load(test::kSmolLM2);
  CHECK(smol->eos() == 2);  // <|im_end|>
  CHECK(smol->is_end_of_generation(2));
  CHECK(smol->is_end_of_generation(0));  // <|endoftext|>
  CHECK_FALSE(smol->is_end_of_generation(1));
  CHECK(smol->encode("hi", true, true).front() != smol->bos());  // add_bos is false
  auto gemma = load(test::kGemma3);
  CHECK(gemma->bos() == 2);
  CHECK(gemma->encode("hi", true, true).front() == 2);  // add_bos is true
  CHECK(gemma->is_end_of_generation(1));                // <eos>
  CHECK(gemma->is_end_of_generation(106));              // <end_of_turn>
  CHECK(gemma->eot() == 106);
}

TEST_CASE("streaming never splits a UTF-8 character", "[tokenizer]") {
  CHECK(tokenizer::utf8::complete_prefix("abc") == 3);
  CHECK(tokenizer::utf8::complete_prefix("ab\xe4\xbd") == 2);      // 2 of 3 bytes of 你
  CHECK(tokenizer::utf8::complete_prefix("ab\xe4\xbd\xa0") == 5);  // whole
  CHECK(tokenizer::utf8::complete_prefix("\xf0\x9f\x99") == 0);    // 3 of 4 bytes of 🙂
}

TEST_CASE("chat templates: unknown names and broken alternation are errors", "[tokenizer]") {
  tokenizer::Vocab v;
  v.tokens = {"<s>", "</s>"};
  v.types = {tokenizer::TokenType::Control, tokenizer::TokenType::Control};
  v.bos = 0;
  v.eos = 1;
  CHECK_THROWS_WITH(tokenizer::ChatTemplate::detect(v), Catch::Contains("--chat-template"));
  // Without a template, the architecture's row may name a family (Gemma's files often carry none).
  tokenizer::Vocab gemma_file = v;
  gemma_file.default_chat_template = "gemma";
  CHECK(tokenizer::ChatTemplate::detect(gemma_file).family() ==
        tokenizer::ChatTemplate::Family::Gemma);
  CHECK_THROWS_WITH(tokenizer::ChatTemplate::named("vicuna", v), Catch::Contains("chatml, gemma"));
  auto gemma = tokenizer::ChatTemplate::named("gemma", v);
  std::vector<tokenizer::ChatMessage> two_users = {{"user", "a"}, {"user", "b"}};
  CHECK_THROWS_WITH(gemma.render(two_users, true), Catch::Contains("alternate"));
  auto llama2 = tokenizer::ChatTemplate::named("llama2", v);
  std::vector<tokenizer::ChatMessage> conv = {{"system", "S"}, {"user", "U"}, {"assistant", "A"}};
  CHECK(llama2.render(conv, false) == "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s>");
  auto mistral = tokenizer::ChatTemplate::named("mistral", v);
  CHECK(mistral.render(conv, false) == "<s>[INST] S\n\nU [/INST]A</s>");
}

TEST_CASE("Gemma 3: long texts encoded in segments give the ids of one whole encode",
          "[model][tokenizer]") {
  // The segmented encoder cuts only where no piece spans the cut; with tiny segments nearly every
  // boundary is tried, including inside space runs, CJK, emoji and digits.
  std::string path = test::model_path(test::kGemma3);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  tokenizer::Vocab vocab = read_vocab(gguf::File::open(path));
  auto whole = tokenizer::make_spm_tokenizer(vocab, 0);
  auto tiny = tokenizer::make_spm_tokenizer(vocab, 7);
  auto standard = tokenizer::make_spm_tokenizer(vocab);
  std::string mixed;
  const std::string parts[] = {"The quick brown fox, ",      "  two  spaces   three ",
                               std::string(40, ' '),         "数学は美しい。",
                               "emoji 😀😀 ok\n\n\n",          "x² + 1234567890 ½ ",
                               "<start_of_turn>user\n",      "naïve café — “quoted”\t\ttabs ",
                               "https://example.com/a?b=c ", "ــــ العربية ",
                               "def f(x):\n    return x\n"};
  for (int rep = 0; rep < 40; ++rep)
    for (const std::string& p : parts) mixed += p;
  for (bool special : {false, true}) {
    INFO("parse_special " << special);
    auto expected = whole->encode(mixed, true, special);
    CHECK(tiny->encode(mixed, true, special) == expected);
    CHECK(standard->encode(mixed, true, special) == expected);
  }
  // And the essays' prose at full length, when the eval data is there.
  std::string essays;
  const char* home = std::getenv("HOME");
  std::filesystem::path dir =
      std::filesystem::path(home ? home : ".") / ".cache/longctx/eval/PaulGrahamEssays";
  if (std::filesystem::is_directory(dir)) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      essays.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (essays.size() > 200000) break;
    }
    CHECK(standard->encode(essays, true, true) == whole->encode(essays, true, true));
  }
}

// A GGUF written by llama.cpp's converter from a Gemma-layout folder whose tokenizer types <unk>
// (id 3) UNKNOWN and writes no tokenizer.ggml.unknown_token_id: llama.cpp takes unk 0 (<pad>,
// CONTROL) and loads it. sentencepiece takes one UNKNOWN piece only: <pad> becomes it, <unk> goes
// as a control piece, and the ids of text are those of the file with the key.
TEST_CASE("SentencePiece with an UNKNOWN piece that is not the unk id loads, as in llama.cpp",
          "[model][tokenizer]") {
  std::string path = test::model_path(test::kGemma3);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  const tokenizer::Vocab with_key = read_vocab(gguf::File::open(path));
  REQUIRE(with_key.unk == 3);
  tokenizer::Vocab without_key = with_key;
  without_key.types[3] = tokenizer::TokenType::Unknown;
  without_key.unk = 0;  // llama.cpp's default when the key is absent
  auto reference = tokenizer::Tokenizer::create(with_key);
  std::unique_ptr<tokenizer::Tokenizer> tok;
  REQUIRE_NOTHROW(tok = tokenizer::Tokenizer::create(without_key));
  for (const char* text :
       {"The quick brown fox", "数学は美しい。 x² + 1234567890", "<unk> and <pad>"})
    CHECK(tok->encode(text, true, false) == reference->encode(text, true, false));
  // Matched as a special piece only when asked, as llama.cpp does with UNKNOWN-typed pieces.
  CHECK(tok->encode("<unk>", false, true) == std::vector<Token>{3});
}
