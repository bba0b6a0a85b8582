// Answer log-likelihood: the reference answer teacher-forced after the prompt, one decode step per
// token (so a policy that acts while decoding — Quest's page choice, recycled attention's reuse,
// H2O's per-step eviction — acts exactly as it would in generation), recording log P(token) under
// the model. A paired difference of log P(answer) between a mode and dense on the same samples
// separates modes with far fewer samples than exact match, whose right/wrong scores need hundreds
// (docs/eval.md, "Answer likelihood").
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "engine/session.h"
#include "eval/sample.h"
#include "tokenizer/tokenizer.h"

namespace longctx::eval {

// What `eval --metric` asks: generate and score the text (exact match and the official metrics),
// teacher-force the reference answer, or both.
enum class EvalMetric { Generate, Likelihood, Both };
EvalMetric parse_metric(const std::string& name);  // generate | likelihood | both; else an error
const char* metric_name(EvalMetric m);

// The answer a sample is scored against as the model would write it right after the prompt: its
// own reference where it has one, else its answers joined by ", " when every one must appear
// (string_match_all), else the first; a space before it unless what comes before ends in white
// space. A sample may put a lead before it (the passkey's "The pass key is", the needle's question
// restated), teacher-forced but not scored, so the measurement is the answer's probability where
// the answer belongs, not the model's choice of phrasing. Tokens as the model's tokenizer writes
// that text after a line break (so a tokenizer's dummy prefix stays with the anchor). Empty when
// the sample has no answer or two turns (LongBench v2's chain of thought).
struct ReferenceAnswer {
  std::string lead, text;       // text: the scored part, with its leading space
  std::vector<int32_t> tokens;  // the lead's tokens, then the answer's
  size_t scored_from = 0;       // the answer's first token in `tokens`
};
ReferenceAnswer reference_answer(const EvalSample& s, const tokenizer::Tokenizer& tok);

// log softmax(logits)[token], in double.
double log_prob(std::span<const float> logits, int32_t token);
// Whether greedy decoding picks `token` from these logits (the largest; ties to the lower id, as
// the sampler breaks them).
bool is_greedy(std::span<const float> logits, int32_t token);

struct TeacherForced {
  std::vector<double> logprobs;  // per answer token (the lead's not), nats
  bool greedy = true;            // every answer token was the greedy pick
  int64_t steps = 0;             // decode steps evaluated (lead and answer tokens but the last)
  double total() const;
};
// Feeds `ref`'s tokens to `session` after a prompt whose last logits are `logits`.
TeacherForced teacher_force(Session& session, std::span<const float> logits,
                            const ReferenceAnswer& ref);

// Follows a greedy generation token by token: while it writes the reference answer it records the
// same log-probabilities teacher forcing would (the same steps on the same session), so a sample
// answered right needs no second pass.
class AnswerFollower {
 public:
  explicit AnswerFollower(const ReferenceAnswer& ref) : ref_(ref) {}
  void on_token(int32_t token, std::span<const float> logits);
  // The lead and the whole answer came out of the generation.
  bool complete() const { return following_ && seen_ == ref_.tokens.size(); }
  const TeacherForced& result() const { return got_; }

 private:
  const ReferenceAnswer& ref_;
  TeacherForced got_;
  size_t seen_ = 0;
  bool following_ = true;
};

// The fields a results line carries for a teacher-forced answer. A token the model gives no
// probability at all (a logit of -inf: a masked or padded vocabulary entry) counts -1000 nats, so
// the line stays JSON (which has no infinity).
void write_likelihood(nlohmann::json& line, const ReferenceAnswer& ref, const TeacherForced& t,
                      double ms);
// A results line's likelihood fields are well-formed (all or none, numbers and true/false where
// they belong); throws naming the field.
void check_likelihood_fields(const nlohmann::json& line);

// Aggregates of answer log-likelihood for one row (task x length x mode) or one length's pooled
// samples: id -> log P(answer) and id -> greedy (1 or 0).
struct LikelihoodSamples {
  std::map<std::string, double> logprob;
  std::map<std::string, double> greedy;
};
// Adds to `row`: logprob_n, logprob_mean with its bootstrap interval, greedy_match (percent) with
// Wilson's interval; and, given dense's samples, the paired difference in nats over the samples
// both hold (mean, bootstrap interval, sign test, resolved). `key` seeds the bootstraps.
void add_likelihood_fields(nlohmann::json& row, const LikelihoodSamples& mine,
                           const LikelihoodSamples* dense, const std::string& key);

// Adds row[field] (the mean of `values`, rounded to 4 places) and row[field + "_ci95"] (a
// bootstrap over the samples, seeded by `key`): attention recall per row and per length.
void add_mean_fields(nlohmann::json& row, const std::string& field,
                     const std::map<std::string, double>& values, const std::string& key);

}  // namespace longctx::eval
