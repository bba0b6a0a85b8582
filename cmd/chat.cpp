// `longctx chat`: interactive, multi-turn. Each turn renders the whole conversation with the chat
// template and evaluates only the tokens after the prefix already in the KV cache.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cmd/chat.h"
#include "cmd/commands.h"
#include "cmd/generation.h"
#include "engine/generate.h"
#include "support/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace longctx::cmd {

int chat(const ChatOptions& o, std::istream& in, std::FILE* out, std::FILE* err, bool interactive) {
  Loaded l = load_for_generation(o.model);
  auto tok = tokenizer::Tokenizer::create(l.model->vocab);
  auto tpl = tokenizer::ChatTemplate::choose(o.chat_template, tok->vocab());
  tpl.set_thinking(!o.no_think);
  Session& s = *l.session;
  Sampler sampler(o.sampler);
  std::vector<tokenizer::ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  std::vector<int32_t> cached;  // the tokens the KV cache holds
  std::fprintf(err, "longctx chat (%s template, context %lld); an empty line or EOF ends\n",
               tpl.name().data(), (long long)s.n_ctx());
  std::string line;
  while (true) {
    // The prompt only where someone types: piped input would put it before every message,
    // errors included.
    if (interactive) std::fprintf(err, "\n> ");
    if (!std::getline(in, line) || line.empty()) break;
    messages.push_back({"user", line});
    std::vector<int32_t> tokens = tok->encode(tpl.render(messages, true), false, true);
    size_t common = 0;
    while (common < cached.size() && common < tokens.size() && cached[common] == tokens[common])
      ++common;
    if (common == tokens.size()) --common;  // re-evaluate one token to get logits
    if (int64_t(tokens.size()) + o.n_predict > s.n_ctx()) {
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
    GenerateOptions go;
    go.max_tokens = o.n_predict;
    Generation g = generate(s, *tok, sampler, logits, tokens, go, stream_to(out));
    // The cache holds the prompt and the generated tokens that were evaluated.
    cached.insert(cached.end(), g.tokens.begin(), g.tokens.begin() + g.decode_steps);
    std::fputc('\n', out);
    std::fprintf(err, "[%zu tokens, %.1f tokens/s]\n", g.tokens.size(),
                 double(g.tokens.size()) / (g.ms / 1000));
    const std::string& reply = g.text;
    messages.push_back({"assistant", reply});
  }
  return 0;
}

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
  return [o] { return chat(*o, std::cin, stdout, stderr, isatty(0)); };
}

}  // namespace longctx::cmd
