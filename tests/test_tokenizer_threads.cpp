// Tokenizers are called from many threads at once (serve's HTTP workers, eval's sample builders):
// every thread's ids must equal what one thread alone gets. Each of the three real vocabularies
// (SmolLM2's and Qwen2.5's byte-level BPE, Gemma 3's SentencePiece) encodes distinct texts, long
// and short, from 8 threads in different orders, and every result is checked against the serial
// one. The same file builds into tsan_tokenizer_threads (ThreadSanitizer), which reports an
// unsynchronised write to shared scratch even when the ids happen to come out right.
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "models/gguf.h"
#include "models/gguf_vocab.h"
#include "tests/fixtures.h"
#include "tokenizer/tokenizer.h"

using namespace longctx;
using tokenizer::Token;

namespace {

// Distinct texts: words, numbers, punctuation, accents, CJK, emoji, code, runs of spaces and new
// lines, and control tokens written in the text; lengths from a few bytes to ~40 KB.
std::vector<std::string> texts(size_t n) {
  const char* words[] = {"the",    "needle", " haystack", "Paris",    "1234567",   "naïve",
                         "東京",   "🦙",   "\n\n",      "    ",     "x = f(y);", "<|im_start|>",
                         "don't",  "ÉCOLE",  "\t",        "3.14159",  "<eos>",     "Ünïcödé",
                         "zürich", "<s>",    "'s",        "  indent", "CamelCase", "snake_case"};
  std::mt19937 rng(42);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    const size_t count = i % 4 == 0 ? 6000 : 4 + rng() % 300;
    std::string t = "text " + std::to_string(i) + ":";
    for (size_t w = 0; w < count; ++w) {
      t += std::string(w % 7 == 0 ? "" : " ") + words[rng() % std::size(words)];
    }
    out.push_back(std::move(t));
  }
  return out;
}

void check_concurrent(const char* model) {
  const std::string path = test::model_path(model);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  const auto tok = tokenizer::Tokenizer::create(read_vocab(gguf::File::open(path)));
  const std::vector<std::string> inputs = texts(24);
  std::vector<std::vector<Token>> serial, serial_plain;
  for (const std::string& t : inputs) {
    serial.push_back(tok->encode(t, true, true));
    serial_plain.push_back(tok->encode(t, false, false));
  }
  constexpr int kThreads = 8, kRounds = 3;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int round = 0; round < kRounds; ++round) {
        for (size_t k = 0; k < inputs.size(); ++k) {
          const size_t i = (k * 7 + size_t(th) * 5 + size_t(round)) % inputs.size();
          wrong[size_t(th)] += tok->encode(inputs[i], true, true) != serial[i];
          wrong[size_t(th)] += tok->encode(inputs[i], false, false) != serial_plain[i];
          wrong[size_t(th)] += tok->decode(serial_plain[i]).empty();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (int w : wrong) total += w;
  INFO(model << ": " << total << " of " << kThreads * kRounds * inputs.size() * 3
             << " concurrent results differ from the serial ones");
  CHECK(total == 0);
}

}  // namespace

TEST_CASE("BPE (SmolLM2) encodes the same from 8 threads at once", "[model][threads]") {
  check_concurrent(test::kSmolLM2);
}
TEST_CASE("BPE (Qwen2.5) encodes the same from 8 threads at once", "[model][threads]") {
  check_concurrent(test::kQwen2);
}
TEST_CASE("SentencePiece (Gemma 3) encodes the same from 8 threads at once", "[model][threads]") {
  check_concurrent(test::kGemma3);
}
