// The generation loop of `longctx eval`: every sample under every attention mode, greedy, one
// session per mode reused across samples, a progress bar with ETA, one JSON line per result.
// Shared prefill: the modes whose policies steer a prompt as dense attention does until its last
// chunk (Session::shares_prefill) take that part from one dense session per sample
// (Session::adopt_prefix) and evaluate only the rest themselves; results are those of separate
// runs, bit for bit. With --metric likelihood or both, each (sample, mode) also teacher-forces its
// reference answer (eval/likelihood.h): read off the generation when it wrote the answer, else
// after a second prefill of the prompt (the shared part again from the dense session).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "engine/generate.h"
#include "engine/session_setup.h"
#include "eval/likelihood.h"
#include "eval/sample.h"

namespace longctx::eval {

class EvalRunner {
 public:
  // share_prefill false: every mode evaluates every prompt whole.
  EvalRunner(const Model& model, const tokenizer::Tokenizer& tok, ModelOptions options,
             std::vector<std::string> modes, const std::vector<eval::EvalSample>& samples,
             bool share_prefill = true, const eval::PromptFormat* format = nullptr,
             EvalMetric metric = EvalMetric::Generate);
  ~EvalRunner();

  // Runs every (sample, mode) whose key is not in `done`, handing each result line to `sink` as
  // soon as it is ready.
  void run(const std::set<std::string>& done,
           const std::function<void(const nlohmann::json&)>& sink);

 private:
  nlohmann::json run_one(const eval::EvalSample& s, const std::string& mode);
  // Greedy from `logits` (the prompt's last) until the budget, end of generation, a newline when
  // asked (LongBench samsum) or a full context: the one generation loop, engine/generate.h.
  Generation generate(Session& session, std::span<const float> logits, int64_t max_new_tokens,
                      bool stop_at_newline, AnswerFollower* follower = nullptr);
  Session& session(const std::string& mode);
  // attention_recall: the mean over the decode steps since the session's reset_recall().
  static void write_recall(nlohmann::json& line, const Session& session);
  // The fields of a results line every metric writes (the sample, the mode, prefill and memory).
  nlohmann::json result_line(const eval::EvalSample& s, const std::string& mode, double prefill_ms,
                             int64_t shared, const Session& session);
  // Evaluates the prompt of `s` in `session` (the shared part from the dense session when it may);
  // returns the last logits, the milliseconds a separate run would have taken to get them, and
  // how many tokens came from the shared prefill.
  std::span<const float> prefill(Session& session, const eval::EvalSample& s, double& ms,
                                 int64_t& shared);

  const Model& model_;
  const tokenizer::Tokenizer& tok_;
  ModelOptions options_;
  std::vector<std::string> modes_;
  const std::vector<eval::EvalSample>& samples_;
  const eval::PromptFormat* format_ = nullptr;  // for two-turn samples (LongBench v2's CoT)
  EvalMetric metric_ = EvalMetric::Generate;
  std::vector<ReferenceAnswer> refs_;  // per sample: what teacher forcing feeds (empty: nothing)
  int32_t newline_ = -1;
  std::vector<std::unique_ptr<Session>> sessions_;  // one per mode, made on first use
  // Shared prefill: the dense session holding the current sample's shared prefix, the prefix's
  // length and the time it took; the last chunk every sharing mode needs.
  bool share_prefill_ = true;
  std::unique_ptr<Session> base_;
  std::string base_sample_;
  int64_t base_tokens_ = 0;
  double base_ms_ = 0;
  int64_t min_last_chunk_ = 1;
};

}  // namespace longctx::eval
