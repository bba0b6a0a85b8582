#include "engine/generate.h"

#include <algorithm>
#include <cmath>

#include "support/clock.h"

namespace longctx {

const char* finish_name(Finish f) {
  switch (f) {
    case Finish::EndOfGeneration:
      return "end of generation";
    case Finish::StopToken:
      return "stop token";
    case Finish::StopString:
      return "stop string";
    case Finish::Limit:
      return "limit";
    case Finish::ContextFull:
      return "context full";
    case Finish::Cancelled:
      return "cancelled";
  }
  return "?";
}

size_t pending_stop(std::string_view text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops) {
    if (s.empty()) continue;
    for (size_t n = std::min(s.size() - 1, text.size()); n > hold; --n)
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
  }
  return hold;
}

Generation generate(Session& session, const tokenizer::Tokenizer& tok, Sampler& sampler,
                    std::span<const float> logits, std::vector<int32_t> history,
                    const GenerateOptions& o, const GenerateHooks& hooks) {
  Generation g;
  const double start = now_ms();
  tokenizer::StreamDecoder stream(tok, o.skip_special);
  size_t longest_stop = 0;
  for (const std::string& s : o.stop) longest_stop = std::max(longest_stop, s.size());
  auto is_stop_token = [&](int32_t t) {
    return std::find(o.stop_tokens.begin(), o.stop_tokens.end(), t) != o.stop_tokens.end();
  };
  size_t sent = 0;  // g.text[0, sent) has been emitted
  bool listening = true;
  auto emit_to = [&](size_t end) {
    if (end <= sent || !listening) return;
    if (hooks.emit) listening = hooks.emit(std::string_view(g.text).substr(sent, end - sent));
    sent = end;
  };
  std::vector<float> banned;  // the logits with the tokens min_tokens forbids at -inf
  g.finish = Finish::Limit;
  while (int64_t(g.tokens.size()) < o.max_tokens) {
    int32_t next;
    if (int64_t(g.tokens.size()) < o.min_tokens) {
      banned.assign(logits.begin(), logits.end());
      for (size_t t = 0; t < banned.size(); ++t)
        if ((!o.ignore_eos && tok.is_end_of_generation(int32_t(t))) || is_stop_token(int32_t(t)))
          banned[t] = -INFINITY;
      next = sampler.sample(banned, history);
    } else {
      next = sampler.sample(logits, history);
    }
    if (!o.ignore_eos && tok.is_end_of_generation(next)) {
      g.finish = Finish::EndOfGeneration;
      break;
    }
    if (hooks.on_token) hooks.on_token(next, logits);
    g.tokens.push_back(next);
    history.push_back(next);
    const size_t before = g.text.size();
    g.text += stream.push(next);
    // A stop string ends the text before it; a new one can only end in this token's text.
    size_t cut = std::string::npos;
    const size_t from = before > longest_stop ? before - longest_stop : 0;
    for (const std::string& s : o.stop)
      if (!s.empty()) cut = std::min(cut, g.text.find(s, from));
    if (cut != std::string::npos) {
      g.text.resize(cut);
      g.finish = Finish::StopString;
      break;
    }
    emit_to(g.text.size() - pending_stop(std::string_view(g.text).substr(sent), o.stop));
    if (!listening) {
      g.finish = Finish::Cancelled;
      break;
    }
    if (is_stop_token(next)) {
      g.finish = Finish::StopToken;
      break;
    }
    if (int64_t(g.tokens.size()) >= o.max_tokens) break;  // Limit
    if (session.room() < 1) {
      g.finish = Finish::ContextFull;
      break;
    }
    const int32_t one[1] = {next};
    logits = session.eval(one);
    ++g.decode_steps;
  }
  // A character cut off by the end comes out as U+FFFD; a cut before a stop string drops the rest.
  if (g.finish != Finish::StopString) g.text += stream.flush();
  emit_to(g.text.size());
  g.ms = now_ms() - start;
  return g;
}

}  // namespace longctx
