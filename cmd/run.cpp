// `longctx run [-m MODEL] (-p PROMPT | -f FILE)`: streams the continuation, then a timings block.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cmd/commands.h"
#include "cmd/generation.h"
#include "cmd/run.h"
#include "engine/generate.h"
#include "kernels/cpu/vec.h"
#include "support/error.h"
#include "support/text_file.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace longctx::cmd {

int run_prompt(RunOptions o, std::FILE* out, std::FILE* err) {
  if (o.prompt.empty() && o.file.empty()) throw Error("run: give -p PROMPT or -f FILE");
  std::string prompt = o.file.empty() ? o.prompt : read_text_file(o.file);
  start_trace(o.model);
  Loaded l = load_for_generation(o.model);
  auto tok = tokenizer::Tokenizer::create(l.model->vocab);
  bool add_special = true;
  if (o.chat || !o.chat_template.empty()) {
    auto tpl = tokenizer::ChatTemplate::choose(o.chat_template, tok->vocab());
    tpl.set_thinking(!o.no_think);
    std::vector<tokenizer::ChatMessage> turn = {{"user", prompt}};
    prompt = tpl.render(turn, true);
    add_special = false;
  }
  std::vector<int32_t> tokens = tok->encode(prompt, add_special, true);
  Session& s = *l.session;
  if (int64_t(tokens.size()) >= s.room()) {
    throw Error("the prompt has " + std::to_string(tokens.size()) +
                " tokens but the context holds " + std::to_string(s.n_ctx()) + " (raise -c)");
  }
  if (tokens.empty()) throw Error("the prompt is empty");
  std::fprintf(err, "longctx: %s, %lld layers, context %lld, %s, %d threads\n",
               l.model->config.arch->name.data(), (long long)l.model->config.n_layer,
               (long long)s.n_ctx(), s.backend_name().c_str(), omp_get_max_threads());
  std::fprintf(err, "KV cache: %s, %.2f MiB allocated\n", kv_type_name(s.book().type()),
               s.kv_bytes() / 1048576.0);

  double t0 = now_ms();
  std::span<const float> logits = s.eval(tokens);
  double prompt_ms = now_ms() - t0;

  Sampler sampler(o.sampler);
  GenerateOptions go;
  // -n -1: until the context is full; where every layer bounds its cache (streaming), room never
  // runs out, so until as many tokens as the context holds have been seen.
  go.max_tokens = o.n_predict < 0 ? std::min(s.room(), s.n_ctx() - s.n_past()) : o.n_predict;
  go.stop = o.stop;
  go.ignore_eos = o.ignore_eos;
  Generation g = generate(s, *tok, sampler, logits, tokens, go, stream_to(out));
  std::fputc('\n', out);
  const int64_t n_gen = int64_t(g.tokens.size());
  const double gen_ms = g.ms;
  const char* stop_reason = finish_name(g.finish);
  std::fprintf(err,
               "\nlongctx timings (stopped: %s)\n"
               "  load time     = %10.2f ms\n"
               "  prompt eval   = %10.2f ms / %5zu tokens (%8.2f tokens per second)\n"
               "  generation    = %10.2f ms / %5lld tokens (%8.2f tokens per second)\n"
               "  KV cache      = %10.2f MiB held, %.2f MiB allocated (%s, context %lld)\n"
               "  peak memory   = %10.2f MiB\n"
               "attention: %s\n",
               stop_reason, l.load_ms, prompt_ms, tokens.size(), tokens.size() / (prompt_ms / 1000),
               gen_ms, (long long)n_gen, n_gen > 0 ? n_gen / (gen_ms / 1000) : 0.0,
               s.held_kv_bytes() / 1048576.0, s.kv_bytes() / 1048576.0,
               kv_type_name(s.book().type()), (long long)s.n_ctx(), peak_rss_bytes() / 1048576.0,
               describe_policies(s).c_str());
  finish_trace(o.model);
  return 0;
}

Action add_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  add_model_flags(app, o->model);
  add_trace_flag(app, o->model);
  add_sampler_flags(app, o->sampler);
  app.add_option("-p,--prompt", o->prompt, "prompt text");
  app.add_option("-f,--file", o->file, "read the prompt from a file")->excludes("--prompt");
  app.add_option("-n,--predict", o->n_predict,
                 "tokens to generate (-1 = until the context is full)")
      ->check(CLI::Range(-1, 1 << 30));
  app.add_flag("--chat", o->chat, "wrap the prompt as a user turn in the chat template");
  app.add_option(
      "--chat-template", o->chat_template,
      "template family instead of the model's: " + tokenizer::ChatTemplate::known_names());
  app.add_flag(
      "--no-think", o->no_think,
      "Qwen3: an empty think block in the generation prompt, so the model answers directly");
  app.add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-generation tokens");
  app.add_option("--stop", o->stop, "stop when this text is generated (repeatable)");
  return [o] { return run_prompt(*o, stdout, stderr); };
}

}  // namespace longctx::cmd
