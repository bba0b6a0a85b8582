// RULER's sample files in and out: samples made by RULER's own prepare.py (committed by
// scripts/fixtures/make_ruler_official_fixtures.sh) read with the lengths, answers and metric RULER
// gave them; longctx's samples written in that format and read back to the same tokens; every
// malformed line an error naming its line.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/ruler.h"
#include "eval/ruler_data.h"
#include "eval/ruler_jsonl.h"
#include "fixtures.h"
#include "models/gguf.h"
#include "models/gguf_vocab.h"
#include "support/error.h"

using namespace longctx;
using namespace longctx::eval;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::unique_ptr<tokenizer::Tokenizer> smollm2_tokenizer() {
  return tokenizer::Tokenizer::create(
      read_vocab(gguf::File::open(test::model_path(test::kSmolLM2))));
}

fs::path official(const std::string& task) {
  return fs::path(test::fixture_path("eval/ruler/1024")) / task / "validation.jsonl";
}

std::vector<json> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<json> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

fs::path write_file(const std::string& name, const std::string& text) {
  fs::path dir = fs::temp_directory_path() / "longctx_ruler_jsonl" / "2048" / "vt";
  fs::create_directories(dir);
  fs::path file = dir / name;
  std::ofstream(file, std::ios::binary) << text;
  return file;
}

}  // namespace

TEST_CASE("RULER file paths name their task and length", "[eval]") {
  CHECK(ruler_task_from_path("x/synthetic/4096/data/niah_single_1/validation.jsonl") ==
        "niah_single_1");
  CHECK(ruler_task_from_path("runs/fwe.jsonl") == "fwe");
  CHECK(ruler_task_from_path("runs/niah_single_9/validation.jsonl").empty());
  CHECK(ruler_length_from_path("x/synthetic/4096/data/niah_single_1/validation.jsonl") == 4096);
  CHECK(ruler_length_from_path("dump/131072/vt/validation.jsonl") == 131072);
  CHECK(ruler_length_from_path("data/vt/validation.jsonl") == 0);
  CHECK(ruler_length_from_path("4k/vt/validation.jsonl") == 0);
}

TEST_CASE("samples from RULER's prepare.py keep RULER's lengths, answers and metric",
          "[model][eval]") {
  auto tok = smollm2_tokenizer();
  PromptFormat plain(*tok, std::nullopt);
  RulerFileOptions o;
  o.length = 1024;
  for (const char* name : {"niah_single_1", "niah_multikey_2", "vt", "fwe"}) {
    INFO(name);
    const RulerTask& task = ruler_task(name);
    std::vector<json> lines = lines_of(official(name));
    std::vector<EvalSample> samples = read_ruler_file(official(name), task, plain, o);
    REQUIRE(samples.size() == lines.size());
    REQUIRE(samples.size() == 3);
    for (size_t i = 0; i < samples.size(); ++i) {
      const EvalSample& s = samples[i];
      // RULER's length is its tokenizer's count of input + answer prefix (no BOS: SmolLM2 adds
      // none) plus the generation budget: the same text in longctx's tokens, to the token.
      CHECK(int64_t(s.tokens.size()) + task.max_new_tokens == lines[i]["length"].get<int64_t>());
      CHECK(s.answers == lines[i]["outputs"].get<std::vector<std::string>>());
      CHECK(s.metric == task.metric);
      CHECK(s.max_new_tokens == task.max_new_tokens);
      CHECK(s.task == name);
      CHECK(s.length == 1024);
      CHECK(s.index == int64_t(i));  // ordinals: niah's own `index` is a character offset
      CHECK(s.extra["data_index"] == lines[i]["index"]);
      CHECK(s.extra["source"] == official(name).string() + ":" + std::to_string(i + 1));
      // The prompt ends with the answer prefix, so the model continues it.
      std::string text = tok->decode(s.tokens);
      std::string prefix = lines[i]["answer_prefix"];
      CHECK(text.substr(text.size() - prefix.size()) == prefix);
    }
  }
  o.limit = 2;
  CHECK(read_ruler_file(official("vt"), ruler_task("vt"), plain, o).size() == 2);
}

TEST_CASE("longctx's samples written in RULER's format read back to the same tokens",
          "[model][eval]") {
  auto tok = smollm2_tokenizer();
  for (bool chat : {true, false}) {
    INFO("chat template " << chat);
    std::optional<tokenizer::ChatTemplate> tmpl;
    if (chat) tmpl = tokenizer::ChatTemplate::detect(tok->vocab());
    PromptFormat format(*tok, tmpl);
    RulerGenerator gen(format, default_data_dir(), 42);
    for (const char* name : {"niah_single_1", "niah_multivalue", "vt", "cwe", "fwe"}) {
      INFO(name);
      std::string text;
      std::vector<EvalSample> made;
      for (int64_t i = 0; i < 2; ++i) {
        TaskText tt;
        made.push_back(gen.sample(name, 1024, i, &tt));
        json line = ruler_file_line(made.back(), tt, format);
        CHECK(line["length"] == int64_t(made.back().tokens.size()) + made.back().max_new_tokens);
        CHECK(line["answer_prefix"] == tt.answer_prefix);
        text += line.dump() + "\n";
      }
      fs::path file = write_file(std::string(name) + ".jsonl", text);
      RulerFileOptions o;
      o.length = 1024;
      // As prepared: the template is in the text. Not wrapped a second time.
      std::vector<EvalSample> read = read_ruler_file(file, ruler_task(name), format, o);
      REQUIRE(read.size() == made.size());
      for (size_t i = 0; i < made.size(); ++i) {
        CHECK(read[i].tokens == made[i].tokens);
        CHECK(read[i].answers == made[i].answers);
        CHECK(read[i].extra["depths"] == made[i].extra["depths"]);
      }
    }
  }
}

TEST_CASE("a prepared sample wrapped in the chat template reads as a generated one",
          "[model][eval]") {
  auto tok = smollm2_tokenizer();
  PromptFormat chat(*tok, tokenizer::ChatTemplate::detect(tok->vocab()));
  RulerGenerator gen(PromptFormat(*tok, std::nullopt), default_data_dir(), 42);
  TaskText tt;
  gen.sample("vt", 1024, 0, &tt);
  json line = {{"index", 0},
               {"input", tt.body},
               {"outputs", tt.answers},
               {"answer_prefix", tt.answer_prefix}};
  fs::path file = write_file("wrapped.jsonl", line.dump() + "\n");
  RulerFileOptions o;
  o.length = 1024;
  o.wrap_chat = true;
  std::vector<EvalSample> read = read_ruler_file(file, ruler_task("vt"), chat, o);
  CHECK(read.at(0).tokens == chat.encode(tt.body, tt.answer_prefix));
  o.wrap_chat = false;  // as prepared (RULER's base template): no chat markers at all
  std::vector<EvalSample> plain = read_ruler_file(file, ruler_task("vt"), chat, o);
  CHECK(tok->decode(plain.at(0).tokens).find("<|im_start|>") == std::string::npos);
}

TEST_CASE("a malformed RULER line is an error naming its line", "[model][eval]") {
  auto tok = smollm2_tokenizer();
  PromptFormat plain(*tok, std::nullopt);
  RulerFileOptions o;
  o.length = 2048;
  o.context = 2048;
  const std::string good = R"({"index": 0, "input": "text", "outputs": ["a"]})";
  struct Case {
    std::string second_line, message;
  };
  const std::vector<Case> cases = {
      {"{\"index\": 1, \"input\": \"text\"", "bad.jsonl:2: not JSON"},
      {"[1, 2]", "bad.jsonl:2: not a JSON object"},
      {R"({"outputs": ["a"]})", "bad.jsonl:2: no field 'input'"},
      {R"({"input": 3, "outputs": ["a"]})", "bad.jsonl:2: field 'input' is not text"},
      {R"({"input": "t"})", "bad.jsonl:2: no field 'outputs'"},
      {R"({"input": "t", "outputs": []})", "bad.jsonl:2: field 'outputs' is not a non-empty list"},
      {R"({"input": "t", "outputs": "a"})", "bad.jsonl:2: field 'outputs' is not a non-empty list"},
      {R"({"input": "t", "outputs": ["a", 5]})", "bad.jsonl:2: field 'outputs' holds a value"},
      {R"({"input": "t", "outputs": ["a"], "answer_prefix": 1})",
       "bad.jsonl:2: field 'answer_prefix' is not text"},
      {R"({"input": "t", "outputs": ["a"], "index": "0"})",
       "bad.jsonl:2: field 'index' is not an integer"},
      {R"({"input": "t", "outputs": ["a"], "length": 1.5})",
       "bad.jsonl:2: field 'length' is not an integer"},
      {"{\"input\": \"t\xff\", \"outputs\": [\"a\"]}", "bad.jsonl:2: not JSON"},
  };
  for (const auto& c : cases) {
    INFO(c.second_line);
    fs::path file = write_file("bad.jsonl", good + "\n" + c.second_line + "\n");
    CHECK_THROWS_WITH(read_ruler_file(file, ruler_task("vt"), plain, o),
                      Catch::Contains(c.message));
  }
  // A prompt past the context: 2048 - 30 tokens of generation leave 2018 for the prompt.
  std::string words;
  for (int i = 0; i < 2100; ++i) words += " word";
  json longer = {{"input", words}, {"outputs", {"a"}}};
  fs::path file = write_file("bad.jsonl", good + "\n\n" + longer.dump() + "\n");
  CHECK_THROWS_WITH(read_ruler_file(file, ruler_task("vt"), plain, o),
                    Catch::Contains("bad.jsonl:3: the prompt is") &&
                        Catch::Contains("more than the model's context of 2048"));
  CHECK_THROWS_WITH(read_ruler_file(write_file("empty.jsonl", "\n \n"), ruler_task("vt"), plain, o),
                    Catch::Contains("empty.jsonl: no samples in it"));
  CHECK_THROWS_WITH(read_ruler_file(fs::temp_directory_path() / "longctx-no-such.jsonl",
                                    ruler_task("vt"), plain, o),
                    Catch::Contains("longctx-no-such.jsonl"));
}
