#include "eval/likelihood.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "eval/intervals.h"
#include "eval/rng.h"
#include "support/clock.h"
#include "support/error.h"

namespace longctx::eval {

constexpr double kFloorLogProb = -1000;

EvalMetric parse_metric(const std::string& name) {
  if (name == "generate") return EvalMetric::Generate;
  if (name == "likelihood") return EvalMetric::Likelihood;
  if (name == "both") return EvalMetric::Both;
  throw Error("--metric: '" + name + "' is not generate, likelihood or both");
}

const char* metric_name(EvalMetric m) {
  return m == EvalMetric::Generate     ? "generate"
         : m == EvalMetric::Likelihood ? "likelihood"
                                       : "both";
}

namespace {

// `text` as the tokenizer writes it after a line break.
std::vector<int32_t> tokens_in_context(const tokenizer::Tokenizer& tok, const std::string& text) {
  // The anchor takes whatever a tokenizer puts at the start of a text (SentencePiece's dummy
  // prefix) and ends a pre-tokenizer split, so the text's tokens are those it has in context.
  const std::vector<int32_t> anchor = tok.encode("\n", false, false);
  std::vector<int32_t> both = tok.encode("\n" + text, false, false);
  if (both.size() > anchor.size() && std::equal(anchor.begin(), anchor.end(), both.begin()))
    return {both.begin() + std::ptrdiff_t(anchor.size()), both.end()};
  return tok.encode(text, false, false);
}

bool ends_in_space(const std::string& s) {
  return !s.empty() && std::isspace(static_cast<unsigned char>(s.back()));
}

}  // namespace

ReferenceAnswer reference_answer(const EvalSample& s, const tokenizer::Tokenizer& tok) {
  ReferenceAnswer out;
  if (!s.followup.empty() || s.tokens.empty() || s.answers.empty()) return out;
  std::string text = s.reference;
  if (!text.empty()) {
  } else if (s.metric == "string_match_all") {
    for (size_t i = 0; i < s.answers.size(); ++i) text += (i ? ", " : "") + s.answers[i];
  } else {
    text = s.answers[0];
  }
  if (text.empty()) return out;
  const std::string before = tok.token_to_piece(s.tokens.back());
  out.lead = s.reference_lead;
  if (!out.lead.empty()) out.tokens = tokens_in_context(tok, out.lead);
  out.scored_from = out.tokens.size();
  out.text = (ends_in_space(out.lead.empty() ? before : out.lead) ? "" : " ") + text;
  std::vector<int32_t> answer = tokens_in_context(tok, out.text);
  out.tokens.insert(out.tokens.end(), answer.begin(), answer.end());
  return out;
}

double log_prob(std::span<const float> logits, int32_t token) {
  if (token < 0 || size_t(token) >= logits.size())
    throw Error("internal: answer token " + std::to_string(token) + " outside the vocabulary");
  double max = -INFINITY;
  for (float x : logits) max = std::max(max, double(x));
  double sum = 0;
  for (float x : logits) sum += std::exp(double(x) - max);
  return std::max(kFloorLogProb, double(logits[size_t(token)]) - max - std::log(sum));
}

bool is_greedy(std::span<const float> logits, int32_t token) {
  const float v = logits[size_t(token)];
  for (size_t i = 0; i < logits.size(); ++i)
    if (logits[i] > v || (logits[i] == v && i < size_t(token))) return false;
  return true;
}

double TeacherForced::total() const {
  double sum = 0;
  for (double x : logprobs) sum += x;
  return sum;
}

TeacherForced teacher_force(Session& session, std::span<const float> logits,
                            const ReferenceAnswer& ref) {
  TeacherForced out;
  const std::span<const int32_t> tokens = ref.tokens;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i >= ref.scored_from) {
      out.logprobs.push_back(log_prob(logits, tokens[i]));
      out.greedy = out.greedy && is_greedy(logits, tokens[i]);
    }
    if (i + 1 == tokens.size()) break;
    if (session.room() < 1)
      throw Error("the reference answer does not fit in the context (raise -c)");
    logits = session.eval(tokens.subspan(i, 1));
    ++out.steps;
  }
  return out;
}

void AnswerFollower::on_token(int32_t token, std::span<const float> logits) {
  if (!following_ || seen_ == ref_.tokens.size()) return;
  if (token != ref_.tokens[seen_]) {
    following_ = false;
    return;
  }
  if (seen_ >= ref_.scored_from) {
    got_.logprobs.push_back(log_prob(logits, token));
    got_.greedy = got_.greedy && is_greedy(logits, token);
  }
  ++seen_;
}

void write_likelihood(nlohmann::json& line, const ReferenceAnswer& ref, const TeacherForced& t,
                      double ms) {
  if (!ref.lead.empty()) line["answer_lead"] = ref.lead;
  line["answer_text"] = ref.text;
  line["answer_tokens"] =
      std::vector<int32_t>(ref.tokens.begin() + std::ptrdiff_t(ref.scored_from), ref.tokens.end());
  line["answer_logprob"] = t.total();
  line["answer_token_logprobs"] = t.logprobs;
  line["answer_greedy"] = t.greedy;
  line["likelihood_steps"] = t.steps;  // 0: read off the generation, which wrote the answer
  line["likelihood_ms"] = ms;
}

void check_likelihood_fields(const nlohmann::json& p) {
  if (!p.contains("answer_logprob")) return;
  if (!p["answer_logprob"].is_number()) throw Error("'answer_logprob' is not a number");
  if (!p.contains("answer_greedy") || !p["answer_greedy"].is_boolean())
    throw Error("'answer_greedy' is not true/false");
  if (p.contains("answer_token_logprobs")) {
    if (!p["answer_token_logprobs"].is_array())
      throw Error("'answer_token_logprobs' is not a list");
    for (const auto& x : p["answer_token_logprobs"])
      if (!x.is_number()) throw Error("an answer token's log-probability is not a number");
  }
}

static double round3(double x) {
  return std::round(x * 1000) / 1000;
}

void add_likelihood_fields(nlohmann::json& row, const LikelihoodSamples& mine,
                           const LikelihoodSamples* dense, const std::string& key) {
  if (mine.logprob.empty()) return;
  std::vector<double> lp, greedy;
  for (const auto& [id, x] : mine.logprob) lp.push_back(x);
  for (const auto& [id, x] : mine.greedy) greedy.push_back(x);
  double mean = 0;
  for (double x : lp) mean += x;
  mean /= double(lp.size());
  const Interval lci = bootstrap_mean95(lp, Rng::derive(0, key + "/logprob"));
  double right = 0;
  for (double g : greedy) right += g;
  const Interval gci = wilson95(right, int64_t(greedy.size()));
  row["logprob_n"] = lp.size();
  row["logprob_mean"] = round3(mean);
  row["logprob_ci95"] = {round3(lci.lo), round3(lci.hi)};
  row["greedy_match"] = std::round(10000 * right / double(greedy.size())) / 100;
  row["greedy_match_ci95"] = {std::round(10000 * gci.lo) / 100, std::round(10000 * gci.hi) / 100};
  if (!dense) return;
  // Paired over the samples both modes hold: the prompt's difficulty cancels, what remains is
  // what the mode's attention changed.
  std::vector<double> ours, theirs;
  for (const auto& [id, x] : mine.logprob)
    if (auto d = dense->logprob.find(id); d != dense->logprob.end()) {
      ours.push_back(x);
      theirs.push_back(d->second);
    }
  if (ours.empty()) return;
  const PairedDifference pd =
      paired_difference95(ours, theirs, Rng::derive(0, key + "/logprob/paired"), false);
  row["logprob_diff_vs_dense"] = round3(pd.mean);
  row["logprob_diff_ci95"] = {round3(pd.ci.lo), round3(pd.ci.hi)};
  row["logprob_diff_n"] = ours.size();
  row["logprob_diff_sign_test_p"] = pd.sign_test_p;
  row["logprob_diff_resolved"] = pd.resolved;
}

void add_mean_fields(nlohmann::json& row, const std::string& field,
                     const std::map<std::string, double>& values, const std::string& key) {
  if (values.empty()) return;
  std::vector<double> xs;
  double mean = 0;
  for (const auto& [id, x] : values) {
    xs.push_back(x);
    mean += x;
  }
  mean /= double(xs.size());
  const Interval ci = bootstrap_mean95(xs, Rng::derive(0, key + "/" + field));
  auto r4 = [](double x) { return std::round(x * 10000) / 10000; };
  row[field] = r4(mean);
  row[field + "_ci95"] = {r4(ci.lo), r4(ci.hi)};
}

}  // namespace longctx::eval
