#include "eval/runner.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "eval/longbench_v2.h"
#include "eval/metrics.h"
#include "support/clock.h"
#include "support/error.h"

namespace longctx::eval {

EvalRunner::EvalRunner(const Model& model, const tokenizer::Tokenizer& tok, ModelOptions options,
                       std::vector<std::string> modes, const std::vector<eval::EvalSample>& samples,
                       bool share_prefill, const eval::PromptFormat* format, EvalMetric metric)
    : model_(model),
      tok_(tok),
      options_(std::move(options)),
      modes_(std::move(modes)),
      samples_(samples),
      format_(format),
      metric_(metric),
      share_prefill_(share_prefill) {
  // The context every session needs: the longest prompt plus its generation budget, or plus the
  // reference answer when that is longer.
  int64_t need = 0;
  for (const auto& s : samples_) {
    int64_t after = metric_ == EvalMetric::Likelihood ? 0 : s.max_new_tokens;
    if (metric_ != EvalMetric::Generate) {
      refs_.push_back(reference_answer(s, tok));
      after = std::max(after, int64_t(refs_.back().tokens.size()));
    }
    need = std::max(need, int64_t(s.tokens.size()) + after);
  }
  if (options_.n_ctx <= 0 || options_.n_ctx < need) options_.n_ctx = std::max<int64_t>(need, 64);
  if (need > model.config.n_ctx_train) {
    throw Error("the samples need " + std::to_string(need) +
                " tokens of context but the model was trained on " +
                std::to_string(model.config.n_ctx_train) + "; lower --lengths");
  }
  std::vector<int32_t> nl = tok.encode("\n", false, false);
  newline_ = nl.empty() ? -1 : nl.back();  // pred.py: tokenizer.encode("\n")[-1]
  // Every mode's session is held at once, and the shared prefill's dense one besides.
  options_.sessions = int(modes_.size()) + (share_prefill_ && modes_.size() > 1 ? 1 : 0);
  share_device_model(model, options_);  // one copy of the weights for every mode's session
  sessions_.resize(modes_.size());
  for (size_t m = 0; m < modes_.size(); ++m) session(modes_[m]);  // bad policy specs fail here
  // One dense session serves every mode that can take its prefix (on the CPU, untraced, with the
  // same KV layout), when at least two modes can: one prefix for all, cut where every one of them
  // cuts its prompt.
  if (share_prefill_ && modes_.size() > 1) {
    auto sharing = [&](const Session& base) {
      int64_t n = 0;
      for (const auto& s : sessions_) n += s->can_adopt_prefix(base);
      return n;
    };
    ModelOptions plain = options_;  // the shared prefill measures nothing itself
    plain.attention_recall = false;
    base_ = make_session(model_, plain, "dense");
    int64_t n = sharing(*base_);
    // H2O takes the prefix too when the dense session records the attention mass it scores by
    // (every budget the same mass): worth the mass computation when it adds sharing modes.
    if (n < int64_t(sessions_.size())) {
      auto recorder = make_session(model_, plain, "dense:observe=mass");
      if (int64_t r = sharing(*recorder); r > n) {
        base_ = std::move(recorder);
        n = r;
      }
    }
    for (const auto& s : sessions_)
      if (s->can_adopt_prefix(*base_))
        min_last_chunk_ = std::max(min_last_chunk_, s->min_last_chunk());
    if (n < 2) base_.reset();
  }
}

std::span<const float> EvalRunner::prefill(Session& session, const eval::EvalSample& s, double& ms,
                                           int64_t& shared) {
  std::span<const int32_t> rest = s.tokens;
  shared = 0;
  double shared_ms = 0;
  if (base_ && session.can_adopt_prefix(*base_)) {
    shared = session.prefill_boundary(int64_t(s.tokens.size()), min_last_chunk_);
    if (shared > 0) {
      if (base_sample_ != s.id() || base_tokens_ != shared) {
        base_->clear();
        const double t = now_ms();
        base_->eval(rest.first(size_t(shared)));
        base_ms_ = now_ms() - t;
        base_sample_ = s.id();
        base_tokens_ = shared;
      }
      session.adopt_prefix(*base_);
      rest = rest.subspan(size_t(shared));
      shared_ms = base_ms_;
    }
  }
  const double t0 = now_ms();
  std::span<const float> logits = session.eval(rest);
  ms = now_ms() - t0 + shared_ms;
  return logits;
}

EvalRunner::~EvalRunner() = default;

Session& EvalRunner::session(const std::string& mode) {
  size_t m = size_t(std::find(modes_.begin(), modes_.end(), mode) - modes_.begin());
  if (!sessions_[m]) sessions_[m] = make_session(model_, options_, mode);
  return *sessions_[m];
}

Generation EvalRunner::generate(Session& session, std::span<const float> logits,
                                int64_t max_new_tokens, bool stop_at_newline,
                                AnswerFollower* follower) {
  GenerateOptions go;
  go.max_tokens = max_new_tokens;
  if (stop_at_newline) {
    // pred.py's samsum: the newline ends the answer, and min_length = prompt + 1 keeps the stop
    // tokens (EOS, newline) from being the first one.
    if (newline_ >= 0) go.stop_tokens = {newline_};
    go.min_tokens = 1;
  }
  Sampler greedy(SamplerOptions{.temperature = 0, .repeat_penalty = 1});
  GenerateHooks hooks;
  if (follower)
    hooks.on_token = [follower](int32_t t, std::span<const float> l) { follower->on_token(t, l); };
  return longctx::generate(session, tok_, greedy, logits, {}, go, hooks);
}

// The stop reasons a results line records.
static const char* stop_name(Finish f) {
  return f == Finish::StopToken ? "newline" : finish_name(f);
}

nlohmann::json EvalRunner::run_one(const eval::EvalSample& s, const std::string& mode) {
  Session& session = this->session(mode);
  if (options_.trace) options_.trace->sample(s.id(), mode);
  session.clear();
  session.reset_timing();
  session.reset_recall();
  double prefill_ms = 0;
  int64_t shared = 0;
  std::span<const float> logits = prefill(session, s, prefill_ms, shared);
  const ReferenceAnswer* ref = refs_.empty() ? nullptr : &refs_[size_t(&s - samples_.data())];
  if (ref && ref->tokens.empty()) ref = nullptr;
  if (metric_ == EvalMetric::Likelihood) {
    // The answer's likelihood alone: no text, no score.
    nlohmann::json line = result_line(s, mode, prefill_ms, shared, session);
    if (ref) {
      const double t = now_ms();
      write_likelihood(line, *ref, teacher_force(session, logits, *ref), now_ms() - t);
    }
    write_recall(line, session);
    return line;
  }
  double t1 = now_ms();
  std::optional<AnswerFollower> follower;
  if (ref) follower.emplace(*ref);
  Generation g = generate(session, logits, s.max_new_tokens, s.stop_at_newline,
                          follower ? &*follower : nullptr);
  std::string pred = tok_.decode(g.tokens, true);
  nlohmann::json extra = s.extra;
  if (!s.followup.empty()) {
    // The chain of thought's second turn: a new prompt holding the first answer, in this mode.
    if (!format_) throw Error("internal: a two-turn sample needs the prompt format");
    std::vector<int32_t> second = eval::longbench_v2_followup(s, pred, *format_);
    if (int64_t(second.size()) + s.followup_max_new_tokens > options_.n_ctx)
      throw Error(s.id() + ": the chain of thought's second turn needs " +
                  std::to_string(second.size() + size_t(s.followup_max_new_tokens)) +
                  " tokens of context; raise -c");
    extra["response_cot"] = pred;
    extra["followup_prompt_tokens"] = second.size();
    session.clear();
    Generation g2 = generate(session, session.eval(second), s.followup_max_new_tokens, false);
    pred = tok_.decode(g2.tokens, true);
    g.decode_steps += g2.decode_steps;
    g.finish = g2.finish;
    g.tokens.insert(g.tokens.end(), g2.tokens.begin(), g2.tokens.end());
  }
  double decode_ms = now_ms() - t1;
  nlohmann::json line = result_line(s, mode, prefill_ms, shared, session);
  line["extra"] = extra;
  line["new_tokens"] = g.tokens.size();
  line["decode_steps"] = g.decode_steps;
  line["stop"] = stop_name(g.finish);
  line["pred"] = pred;
  line["decode_ms"] = decode_ms;
  line["latency_ms"] = prefill_ms + decode_ms;
  line["score"] = eval::score_sample(s.metric, pred, s.answers, s.all_classes, s.first_line);
  write_recall(line, session);  // over the generation's decode steps
  if (ref) {
    // The answer's likelihood: off the generation when it wrote the whole answer, else from a
    // second prefill (its shared part is still in the dense session) and teacher forcing.
    const double t = now_ms();
    if (follower->complete()) {
      write_likelihood(line, *ref, follower->result(), 0);
    } else {
      // A trace tells the second pass's steps from the generation's.
      if (options_.trace) options_.trace->sample(s.id(), mode + " (teacher forcing)");
      session.clear();
      double again_ms = 0;
      int64_t again_shared = 0;
      std::span<const float> again = prefill(session, s, again_ms, again_shared);
      write_likelihood(line, *ref, teacher_force(session, again, *ref), now_ms() - t);
    }
  }
  return line;
}

void EvalRunner::write_recall(nlohmann::json& line, const Session& session) {
  const AttentionRecall* r = session.recall();
  if (!r || r->count() == 0) return;
  line["attention_recall"] = r->mean();
  line["attention_recall_n"] = r->count();  // decode steps x measured layers x query heads
}

nlohmann::json EvalRunner::result_line(const eval::EvalSample& s, const std::string& mode,
                                       double prefill_ms, int64_t shared, const Session& session) {
  nlohmann::json line = {
      {"id", s.id()},
      {"benchmark", s.benchmark},
      {"task", s.task},
      {"length", s.length},
      {"index", s.index},
      {"mode", mode},
      {"kv_type", options_.kv_type},
      {"prompt_tokens", s.tokens.size()},
      {"max_new_tokens", s.max_new_tokens},
      {"answers", s.answers},
      {"metric", s.metric},
      {"first_line", s.first_line},
      {"prefill_ms", prefill_ms},  // with the shared prefix's time: what a separate run takes
      {"shared_prefill_tokens", shared},
      {"attention_ms", session.attention_ms()},
      {"planning_ms", session.planning_ms()},
      {"kv_bytes", session.kv_bytes()},
      {"kv_held_bytes", session.held_kv_bytes()},
      {"extra", s.extra},
  };
  if (!s.all_classes.empty()) line["all_classes"] = s.all_classes;
  if (metric_ == EvalMetric::Likelihood) line["generated"] = false;  // no pred, no score
  return line;
}

void EvalRunner::run(const std::set<std::string>& done,
                     const std::function<void(const nlohmann::json&)>& sink) {
  struct Job {
    const eval::EvalSample* sample;
    const std::string* mode;
  };
  std::vector<Job> jobs;
  double total_work = 0;  // prompt + generation tokens: what the ETA is proportional to
  for (const auto& s : samples_)
    for (const auto& m : modes_)
      if (!done.count(s.id() + " " + m)) {
        jobs.push_back({&s, &m});
        total_work += double(s.tokens.size() + size_t(s.max_new_tokens));
      }
  const bool tty = isatty(2);
  double start = now_ms(), work = 0, last_print = 0;
  int64_t correct = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    nlohmann::json line = run_one(*jobs[j].sample, *jobs[j].mode);
    sink(line);
    work += double(jobs[j].sample->tokens.size() + size_t(jobs[j].sample->max_new_tokens));
    const bool scored = line.contains("score");
    correct += scored && line["score"].get<double>() >= 1.0;
    char shown[64] = "";  // the score, and log P(answer) where it was taken
    if (scored) std::snprintf(shown, sizeof shown, "%.0f", line["score"].get<double>() * 100);
    if (line.contains("answer_logprob"))
      std::snprintf(shown + std::strlen(shown), sizeof shown - std::strlen(shown),
                    "%slog P(answer) %.2f", scored ? ", " : "",
                    line["answer_logprob"].get<double>());
    double elapsed = (now_ms() - start) / 1000, eta = elapsed / work * (total_work - work);
    double share = work / total_work;
    if (tty || now_ms() - last_print > 30000 || j + 1 == jobs.size()) {
      last_print = now_ms();
      int bar = int(share * 30);
      std::fprintf(stderr,
                   "%s[%.*s%.*s] %zu/%zu %3.0f%%  %02d:%02d elapsed, ETA %02d:%02d  %s %s: %s%s",
                   tty ? "\r\033[K" : "", bar, "==============================", 30 - bar,
                   "                              ", j + 1, jobs.size(), share * 100,
                   int(elapsed) / 60, int(elapsed) % 60, int(eta) / 60, int(eta) % 60,
                   jobs[j].sample->id().c_str(), jobs[j].mode->c_str(), shown, tty ? "" : "\n");
      std::fflush(stderr);
    }
  }
  if (tty && !jobs.empty()) std::fprintf(stderr, "\n");
  if (!jobs.empty())
    std::fprintf(stderr, "%zu results in %.1f s; %lld fully correct\n", jobs.size(),
                 (now_ms() - start) / 1000, (long long)correct);
}

}  // namespace longctx::eval
