// `longctx chat`: interactive, multi-turn. Each turn renders the whole conversation with the chat
// template and evaluates only the tokens after the prefix already in the KV cache.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cmd/commands.h"
#include "cmd/generation.h"
#include "support/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace longctx::cmd {
namespace {

struct ChatOptions {
  ModelOptions model;
  SamplerOptions sampler;
  std::string system, chat_template;
  bool no_think = false;
  int n_predict = 512;
};

}  // namespace

Action add_chat(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  o->model.n_ctx = 4096;
  add_model_flags(app, o->model);
  add_sampler_flags(app, o->sampler);
  app.add_option("-n,--predict", o->n_predict, "most tokens per reply")->check(at_least(1));
  app.add_option("--system", o->system, "system message");
  app.add_option(
      "--chat-template", o->chat_template,
      "template family instead of the model's: " + tokenizer::ChatTemplate::known_names());
  app.add_flag(
      "--no-think", o->no_think,
      "Qwen3: an empty think block in the generation prompt, so the model answers directly");
  return [o] {
    Loaded l = load_for_generation(o->model);
    auto tok = tokenizer::Tokenizer::create(l.model->vocab);
    auto tpl = tokenizer::ChatTemplate::choose(o->chat_template, tok->vocab());
    tpl.set_thinking(!o->no_think);
    Session& s = *l.session;
    Sampler sampler(o->sampler);
    std::vector<tokenizer::ChatMessage> messages;
    if (!o->system.empty()) messages.push_back({"system", o->system});
    std::vector<int32_t> cached;  // the tokens the KV cache holds
    std::fprintf(stderr, "longctx chat (%s template, context %lld); an empty line or EOF ends\n",
                 tpl.name().data(), (long long)s.n_ctx());
    std::string line;
    const bool interactive = isatty(0);
    while (true) {
      // The prompt only where someone types: piped input would put it before every message,
      // errors included.
      if (interactive) std::fprintf(stderr, "\n> ");
      if (!std::getline(std::cin, line) || line.empty()) break;
      messages.push_back({"user", line});
      std::vector<int32_t> tokens = tok->encode(tpl.render(messages, true), false, true);
      size_t common = 0;
      while (common < cached.size() && common < tokens.size() && cached[common] == tokens[common])
        ++common;
      if (common == tokens.size()) --common;  // re-evaluate one token to get logits
      if (int64_t(tokens.size()) + o->n_predict > s.n_ctx()) {
        throw Error("the conversation no longer fits the context of " + std::to_string(s.n_ctx()) +
                    " tokens (raise -c)");
      }
      if (!s.can_truncate(int64_t(common))) {  // tokens were evicted: start the cache over
        s.clear();
        common = 0;
      }
      s.truncate(int64_t(common));
      auto logits = s.eval(std::span<const int32_t>(tokens).subspan(common));
      cached = tokens;
      tokenizer::StreamDecoder stream(*tok, true);
      std::string reply;
      std::vector<int32_t> history = tokens;
      double start = now_ms();
      int n = 0;
      for (; n < o->n_predict; ++n) {
        int32_t next = sampler.sample(logits, history);
        if (tok->is_end_of_generation(next)) break;
        history.push_back(next);
        std::string text = stream.push(next);
        reply += text;
        std::fputs(text.c_str(), stdout);
        std::fflush(stdout);
        int32_t one[1] = {next};
        logits = s.eval(one);
        cached.push_back(next);
      }
      reply += stream.flush();
      std::printf("\n");
      std::fprintf(stderr, "[%d tokens, %.1f tokens/s]\n", n, n / ((now_ms() - start) / 1000));
      messages.push_back({"assistant", reply});
    }
    return 0;
  };
}

}  // namespace longctx::cmd
