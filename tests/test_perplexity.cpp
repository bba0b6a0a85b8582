// Perplexity within 1% of llama.cpp's on the same file, windows and chunks
// (tests/fixtures/perplexity/llamacpp.json, written by
// scripts/fixtures/make_perplexity_fixture.sh).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "engine/perplexity.h"
#include "support/sha256.h"
#include "tests/fixtures.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;

TEST_CASE("perplexity is within 1% of llama.cpp's", "[model][perplexity]") {
  auto bytes = test::read_fixture("perplexity/llamacpp.json");
  auto fx = nlohmann::json::parse(bytes.begin(), bytes.end());
  std::string text_path = fx["text"];
  std::ifstream in(text_path, std::ios::binary);
  REQUIRE(in.good());
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  REQUIRE(sha256_hex({reinterpret_cast<const uint8_t*>(text.data()), text.size()}) ==
          fx["text_sha256"].get<std::string>());
  const int64_t n_ctx = fx["ctx"];
  for (const auto& [file, ref] : fx["ppl"].items()) {
    std::string path = test::model_path(file);
    if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
    auto model = load_model(path);
    auto tok = tokenizer::Tokenizer::create(model->vocab);
    Session s(*model, SessionOptions{n_ctx, n_ctx});
    auto tokens = tok->encode(text, true, false);
    auto r = windowed_perplexity(s, tokens, n_ctx, model->vocab.add_bos ? tok->bos() : -1,
                                 fx["chunks"].get<int64_t>());
    double relative = r.ppl / ref.get<double>() - 1.0;
    WARN(file << ": PPL " << r.ppl << " vs llama.cpp " << ref.get<double>() << " ("
              << relative * 100 << "%)");
    CHECK(std::fabs(relative) < 0.01);
  }
}
