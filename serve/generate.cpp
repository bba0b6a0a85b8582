#include "serve/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/generate.h"
#include "engine/perplexity.h"
#include "support/error.h"

namespace longctx::serve {
using nlohmann::json;

SessionPool::SessionPool(const Model& model, ModelOptions options, int n)
    : model_(model), options_(std::move(options)), slots_(size_t(std::max(n, 1))) {
  // The memory check (make_session) counts all n sessions beside the weights, and sizes or
  // refuses the context for them together.
  options_.sessions = int(slots_.size());
  share_device_model(model_, options_);  // one copy of the weights for every session
  slots_[0].session = make_session(model_, options_, "");
  slots_[0].mode = "";
  options_.n_ctx = slots_[0].session->n_ctx();  // settled: every session gets the same context
}

std::string SessionPool::default_mode() const {
  return options_.attn_config.empty() ? options_.attn : options_.attn_config;
}

SessionPool::Lease::~Lease() {
  std::lock_guard<std::mutex> lock(pool_.mutex_);
  pool_.slots_[slot_].busy = false;
  pool_.freed_.notify_one();
}

std::unique_ptr<SessionPool::Lease> SessionPool::acquire(const std::string& mode) {
  size_t slot = 0;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto pick = [&] {
      // A free session already in this mode, else any free one.
      size_t any = slots_.size();
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].busy) continue;
        if (slots_[i].session && slots_[i].mode == mode) return i;
        if (any == slots_.size()) any = i;
      }
      return any;
    };
    freed_.wait(lock, [&] { return (slot = pick()) < slots_.size(); });
    slots_[slot].busy = true;
  }
  auto lease = std::make_unique<Lease>(*this, slot);
  Slot& s = slots_[slot];
  if (!s.session || s.mode != mode) {
    s.session.reset();  // its memory back before the next is allocated
    s.session = make_session(model_, options_, mode);
    s.mode = mode;
  }
  return lease;
}

namespace {

// log-softmax of the logits at one position: log p(token) = logit - log_sum_exp.
struct LogProbs {
  double lse = 0;
  explicit LogProbs(std::span<const float> logits) : lse(log_sum_exp(logits)) {}
  double of(std::span<const float> logits, int32_t token) const {
    return double(logits[size_t(token)]) - lse;
  }
};

json top_alternatives(std::span<const float> logits, const LogProbs& lp, int n,
                      const tokenizer::Tokenizer& tok, std::vector<int32_t>& scratch) {
  json top = json::object();
  if (n <= 0) return top;
  scratch.resize(logits.size());
  std::iota(scratch.begin(), scratch.end(), 0);
  const size_t k = std::min(size_t(n), scratch.size());
  std::partial_sort(scratch.begin(), scratch.begin() + ptrdiff_t(k), scratch.end(),
                    [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  for (size_t i = 0; i < k; ++i) {
    const std::string piece = tok.token_to_piece(scratch[i]);
    if (!top.contains(piece)) top[piece] = lp.of(logits, scratch[i]);
  }
  return top;
}

}  // namespace

Choice generate_choice(Session& session, const tokenizer::Tokenizer& tok, const GenRequest& r,
                       size_t index, const std::function<bool(const std::string&)>& emit) {
  const std::vector<int32_t>& prompt = r.prompts[index];
  // A logits row is the model's width: config.json may pad vocab_size past the tokenizer's
  // (every Qwen2.5/Qwen3 folder: 151936 rows for 151665 tokens).
  const size_t vocab = size_t(session.model().config.n_vocab);
  Choice c;
  c.prompt_tokens = int64_t(prompt.size());
  session.clear();
  const bool want_lp = r.logprobs >= 0;
  json tokens = json::array(), token_lps = json::array(), tops = json::array(),
       offsets = json::array();
  int64_t offset = 0;
  std::vector<int32_t> scratch;
  auto record = [&](int32_t id, std::span<const float> logits, bool has) {
    const std::string piece = tok.token_to_piece(id);
    tokens.push_back(piece);
    offsets.push_back(offset);
    offset += int64_t(piece.size());
    if (!has) {
      token_lps.push_back(nullptr);
      tops.push_back(nullptr);
      return;
    }
    LogProbs lp(logits);
    token_lps.push_back(lp.of(logits, id));
    tops.push_back(top_alternatives(logits, lp, r.logprobs, tok, scratch));
  };

  std::span<const float> logits;
  if (r.echo && want_lp) {
    // Every prompt position's logits: at once when they take under 256 MiB, else in batches.
    record(prompt[0], {}, false);
    const size_t step = prompt.size() * vocab * 4 <= (size_t(256) << 20)
                            ? prompt.size()
                            : std::max<size_t>(1, (size_t(256) << 20) / (vocab * 4));
    for (size_t start = 0; start < prompt.size(); start += step) {
      const size_t n = std::min(step, prompt.size() - start);
      std::span<const float> all =
          session.eval(std::span(prompt).subspan(start, n), /*all_logits=*/true);
      for (size_t j = 0; j < n; ++j) {
        std::span<const float> row = all.subspan(j * vocab, vocab);
        if (start + j + 1 < prompt.size()) record(prompt[start + j + 1], row, true);
        if (start + j + 1 == prompt.size()) logits = row;
      }
    }
  } else {
    logits = session.eval(prompt);
    if (r.echo)
      for (int32_t id : prompt) record(id, {}, false);
  }
  Sampler sampler(r.sampler);
  GenerateOptions go;
  go.max_tokens = r.max_tokens;
  go.stop = r.stop;
  GenerateHooks hooks;
  hooks.emit = [&](std::string_view piece) { return emit(std::string(piece)); };
  if (want_lp)
    hooks.on_token = [&](int32_t id, std::span<const float> row) { record(id, row, true); };
  Generation g = generate(session, tok, sampler, logits, prompt, go, hooks);
  c.completion_tokens = int64_t(g.tokens.size());
  // OpenAI's finish reasons: "stop" for the model's end or a stop sequence, "length" otherwise.
  c.finish_reason =
      g.finish == Finish::EndOfGeneration || g.finish == Finish::StopString ? "stop" : "length";
  c.text = (r.echo ? tok.decode(prompt) : std::string()) + g.text;
  if (want_lp)
    c.logprobs = {{"tokens", tokens},
                  {"token_logprobs", token_lps},
                  {"top_logprobs", tops},
                  {"text_offset", offsets}};
  return c;
}

}  // namespace longctx::serve
