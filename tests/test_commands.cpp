// The commands as functions (cmd/): what `longctx run` prints, called the way main() calls it but
// with the output captured, on a real model (SmolLM2-135M-Instruct) greedily.
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cmd/run.h"
#include "support/error.h"
#include "tests/fixtures.h"

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
