// Needle-in-a-haystack over a depth x length grid (gkamradt/LLMTest_NeedleInAHaystack, scored
// deterministically instead of by an LLM judge) and passkey retrieval (Mohtashami & Jaggi 2023,
// epfml/landmark-attention run_test.py). Both fitted to the target length in the model's tokens.
#pragma once

#include <filesystem>
#include <vector>

#include "eval/sample.h"

namespace longctx::eval {

class NeedleGenerator {
 public:
  NeedleGenerator(const PromptFormat& format, std::filesystem::path data_dir, uint64_t seed)
      : format_(format), data_dir_(std::move(data_dir)), seed_(seed) {}

  // The San Francisco needle at `depth` percent of an essay haystack (inserted after the sentence
  // end nearest before that point); answers "sandwich" and "Dolores Park", string_match_all.
  // Sample `index` > 0 starts the haystack further into the essays.
  EvalSample niah(int64_t length, double depth, int64_t index);
  // A 1-50000 pass key inside "The grass is green..." filler; `index` draws the key and its depth.
  EvalSample passkey(int64_t length, int64_t index);

 private:
  const PromptFormat& format_;
  std::filesystem::path data_dir_;
  uint64_t seed_;
  std::vector<int32_t> haystack_;  // the essays' tokens, read once
};

}  // namespace longctx::eval
