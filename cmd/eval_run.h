// The generation loop of `longctx eval`: every sample under every attention mode, greedy, one
// session per mode reused across samples, a progress bar with ETA, one JSON line per result.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cmd/generation.h"
#include "engine/eval/sample.h"

namespace longctx::cmd {

class EvalRunner {
 public:
  EvalRunner(const Model& model, const tokenizer::Tokenizer& tok, ModelOptions options,
             std::vector<std::string> modes, const std::vector<eval::EvalSample>& samples);
  ~EvalRunner();

  // Runs every (sample, mode) whose key is not in `done`, handing each result line to `sink` as
  // soon as it is ready.
  void run(const std::set<std::string>& done,
           const std::function<void(const nlohmann::json&)>& sink);

 private:
  nlohmann::json run_one(const eval::EvalSample& s, const std::string& mode);
  Session& session(const std::string& mode);

  const Model& model_;
  const tokenizer::Tokenizer& tok_;
  ModelOptions options_;
  std::vector<std::string> modes_;
  const std::vector<eval::EvalSample>& samples_;
  int32_t newline_ = -1;
  std::vector<std::unique_ptr<Session>> sessions_;  // one per mode, made on first use
};

}  // namespace longctx::cmd
