// LongBench v2 against what its official code makes of the same questions
// (scripts/fixtures/make_longbench_v2_fixtures.py): prompts token for token, query_llm's middle
// truncation, pred.py's own extract_answer, result.py's accuracy by difficulty and length.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/longbench_v2.h"
#include "eval/metrics.h"
#include "eval/results.h"
#include "fixtures.h"
#include "models/gguf.h"
#include "models/gguf_vocab.h"
#include "support/error.h"

using namespace longctx;
using namespace longctx::eval;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kDir = test::fixture_path("eval/longbench_v2");

json expected() {
  std::ifstream in(kDir / "expected.json");
  return json::parse(in);
}

std::unique_ptr<tokenizer::Tokenizer> smollm2_tokenizer() {
  return tokenizer::Tokenizer::create(
      read_vocab(gguf::File::open(test::model_path(test::kSmolLM2))));
}

fs::path data_dir_with(const std::string& text) {
  fs::path dir = fs::temp_directory_path() / "longctx_longbench_v2";
  fs::create_directories(dir);
  std::ofstream(dir / "data.json", std::ios::binary) << text;
  return dir;
}

}  // namespace

TEST_CASE("LongBench v2 answers are extracted as pred.py's extract_answer does", "[eval]") {
  const json e = expected();
  REQUIRE(e["extract"].size() >= 18);
  for (const auto& c : e["extract"]) {
    INFO(c["response"].get<std::string>());
    std::optional<char> got = longbench_v2_extract(c["response"].get<std::string>());
    if (c["pred"].is_null())
      CHECK_FALSE(got.has_value());
    else
      CHECK(std::string(1, got.value_or('?')) == c["pred"].get<std::string>());
    // The metric: right only when the extracted letter is the answer.
    CHECK(score_sample("longbench_v2_choice", c["response"].get<std::string>(), {"A"}, {}, false) ==
          (got == 'A' ? 1.0 : 0.0));
  }
}

TEST_CASE("LongBench v2 prompts are the official templates, filled as pred.py fills them",
          "[model][eval]") {
  auto tok = smollm2_tokenizer();
  PromptFormat plain(*tok, std::nullopt);
  PromptFormat chat(*tok, tokenizer::ChatTemplate::detect(tok->vocab()));
  const json e = expected();
  for (const PromptFormat* format : {&plain, &chat}) {
    INFO("chat template: " << format->name());
    LongBenchV2Options o{kDir, false, 1 << 20};  // a budget that truncates nothing
    std::vector<EvalSample> zero = longbench_v2_samples(o, *format, 1 << 21, 0);
    o.cot = true;
    std::vector<EvalSample> cot = longbench_v2_samples(o, *format, 1 << 21, 0);
    REQUIRE(zero.size() == 6);
    REQUIRE(cot.size() == 6);
    for (size_t i = 0; i < zero.size(); ++i) {
      INFO("item " << i);
      const json& p = e["prompts"][i];
      CHECK(zero[i].tokens == format->encode(p["0shot"].get<std::string>()));
      CHECK(zero[i].max_new_tokens == 128);
      CHECK(zero[i].followup.empty());
      CHECK(cot[i].tokens == format->encode(p["0shot_cot"].get<std::string>()));
      CHECK(cot[i].max_new_tokens == 1024);
      CHECK(cot[i].followup == p["0shot_cot_ans"].get<std::string>());
      CHECK(cot[i].followup_max_new_tokens == 128);
      // The second turn holds the first answer, stripped, where $COT$ was.
      std::string second = p["0shot_cot_ans"].get<std::string>();
      second.replace(second.find("$COT$"), 5, "B is likely.");
      CHECK(longbench_v2_followup(cot[i], "\n  B is likely. \n", *format) ==
            format->encode(second));
      CHECK(zero[i].extra["groups"] ==
            json({"overall", zero[i].extra["difficulty"], zero[i].extra["length_bucket"]}));
    }
    CHECK(zero[0].answers == std::vector<std::string>{"B"});
    CHECK(zero[3].extra["difficulty"] == "hard");
    CHECK(zero[3].extra["length_bucket"] == "short");
  }
}

TEST_CASE("LongBench v2 truncates the middle as query_llm does", "[model][eval]") {
  auto tok = smollm2_tokenizer();
  const json e = expected();
  const std::string prompt = e["prompts"][e["truncated_item"].get<size_t>()]["0shot"];
  for (int64_t m : {301, 512}) {
    INFO("budget " << m);
    bool truncated = false;
    CHECK(longbench_v2_truncate(prompt, *tok, m, truncated) ==
          e["truncated"][std::to_string(m)].get<std::string>());
    CHECK(truncated);
  }
  bool truncated = true;
  CHECK(longbench_v2_truncate(prompt, *tok, 1 << 20, truncated) == prompt);
  CHECK_FALSE(truncated);
  // The default budget: prompt, chat template and generation within the length.
  PromptFormat chat(*tok, tokenizer::ChatTemplate::detect(tok->vocab()));
  for (bool cot : {false, true}) {
    std::vector<EvalSample> s = longbench_v2_samples({kDir, cot, 0}, chat, 1536, 0);
    for (const auto& x : s) CHECK(int64_t(x.tokens.size()) + x.max_new_tokens <= 1536);
    CHECK(s[2].extra["truncated"] == true);   // 3000 words
    CHECK(s[0].extra["truncated"] == false);  // 300 words
  }
  CHECK_THROWS_WITH(longbench_v2_samples({kDir, true, 0}, chat, 1100, 0),
                    Catch::Contains("1024 to generate") && Catch::Contains("raise --lengths"));
}

TEST_CASE("a missing or malformed LongBench v2 file is an error naming it", "[model][eval]") {
  auto tok = smollm2_tokenizer();
  PromptFormat plain(*tok, std::nullopt);
  fs::path none = fs::temp_directory_path() / "longctx_longbench_v2_none";
  fs::create_directories(none);
  CHECK_THROWS_WITH(longbench_v2_samples({none, false, 0}, plain, 4096, 0),
                    Catch::Contains("LongBench-v2/data.json") &&
                        Catch::Contains("huggingface.co/datasets/THUDM/LongBench-v2"));
  std::ifstream in(kDir / "data.json");
  const json good = json::parse(in);
  struct Case {
    std::string text, message;
  };
  auto with = [&](const std::function<void(json&)>& edit) {
    json d = good;
    edit(d);
    return d.dump();
  };
  const std::vector<Case> cases = {
      {"[{", "data.json: not JSON"},
      {"{}", "not LongBench v2's data"},
      {"[]", "not LongBench v2's data"},
      {with([](json& d) { d[1].erase("question"); }),
       "item 1 (_id fixture-v2-1): no field 'question'"},
      {with([](json& d) { d[0]["context"] = 5; }), "item 0 (_id fixture-v2-0): field 'context'"},
      {with([](json& d) { d[2]["answer"] = "E"; }), "field 'answer' is 'E', not A-D"},
      {with([](json& d) { d[2]["difficulty"] = "medium"; }), "not easy or hard"},
      {with([](json& d) { d[2]["length"] = "huge"; }), "not short, medium or long"},
      {with([](json& d) { d[3] = 7; }), "item 3: not a JSON object"},
  };
  for (const auto& c : cases) {
    INFO(c.message);
    CHECK_THROWS_WITH(longbench_v2_samples({data_dir_with(c.text), false, 0}, plain, 4096, 0),
                      Catch::Contains(c.message));
  }
}

TEST_CASE("LongBench v2 accuracy is reported overall, by difficulty and by length", "[eval]") {
  // result.py's table: Overall, Easy, Hard, Short, Medium, Long, each 100 * right / n to 1 place.
  struct Q {
    const char *difficulty, *length;
    bool right;
  };
  const std::vector<Q> qs = {{"easy", "short", true},  {"hard", "short", false},
                             {"hard", "medium", true}, {"hard", "long", false},
                             {"easy", "long", true},   {"hard", "long", true},
                             {"easy", "medium", false}};
  std::vector<json> preds;
  for (size_t i = 0; i < qs.size(); ++i)
    preds.push_back(
        {{"id", "longbench-v2/longbench_v2/4096/" + std::to_string(i)},
         {"benchmark", "longbench-v2"},
         {"task", "longbench_v2"},
         {"length", 4096},
         {"mode", "dense"},
         {"pred", qs[i].right ? "The correct answer is (C)" : "The correct answer is B"},
         {"answers", {"C"}},
         {"metric", "longbench_v2_choice"},
         {"extra", {{"groups", {"overall", qs[i].difficulty, qs[i].length}}}}});
  json scores = score_predictions(preds);
  std::map<std::string, std::pair<int64_t, double>> rows;
  for (const auto& r : scores["rows"]) rows[r["task"]] = {r["n"], r["score"]};
  CHECK(rows.size() == 6);
  CHECK(rows["overall"] == std::pair<int64_t, double>{7, 57.1});  // 4/7
  CHECK(rows["easy"] == std::pair<int64_t, double>{3, 66.7});
  CHECK(rows["hard"] == std::pair<int64_t, double>{4, 50.0});
  CHECK(rows["short"] == std::pair<int64_t, double>{2, 50.0});
  CHECK(rows["medium"] == std::pair<int64_t, double>{2, 50.0});
  CHECK(rows["long"] == std::pair<int64_t, double>{3, 66.7});
  // The per-length average is the overall accuracy, not a mean over the six rows.
  REQUIRE(scores["averages"].size() == 1);
  CHECK(scores["averages"][0]["score"] == 57.1);
}
