// `longctx perplexity -f FILE [-c 512] [--chunks N]`: windowed perplexity as llama.cpp's
// llama-perplexity computes it (gguf.md 6.5): the text cut into chunks of n_ctx tokens, the first
// token of each chunk replaced by BOS when the vocabulary adds one, and only the second half of
// each chunk scored.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cmd/commands.h"
#include "cmd/generation.h"
#include "cmd/perplexity.h"
#include "engine/perplexity.h"
#include "support/error.h"
#include "support/text_file.h"
#include "tokenizer/tokenizer.h"

namespace longctx::cmd {
namespace {}  // namespace

int perplexity(PerplexityOptions o, std::FILE* out, std::FILE* err) {
  std::string text = read_text_file(o.file);
  start_trace(o.model);
  if (o.model.n_batch < o.model.n_ctx) o.model.n_batch = o.model.n_ctx;
  Loaded l = load_for_generation(o.model);
  auto tok = tokenizer::Tokenizer::create(l.model->vocab);
  std::vector<int32_t> tokens = tok->encode(text, true, false);
  const int64_t n_ctx = o.model.n_ctx;
  int32_t bos = l.model->vocab.add_bos ? tok->bos() : -1;
  double start = now_ms();
  int64_t total = std::min<int64_t>(int64_t(tokens.size()) / std::max<int64_t>(n_ctx, 1),
                                    o.chunks < 0 ? INT64_MAX : o.chunks);
  auto r = windowed_perplexity(
      *l.session, tokens, n_ctx, bos, o.chunks,
      [&](int64_t c, double ppl) {
        if (c == 0) {
          if (o.decode > 0) {
            std::fprintf(err, "perplexity: %zu tokens in chunks of %lld, last %lld decoded\n",
                         tokens.size(), (long long)n_ctx, (long long)o.decode);
          } else {
            std::fprintf(err, "perplexity: %zu tokens in chunks of %lld, second halves scored\n",
                         tokens.size(), (long long)n_ctx);
          }
        }
        std::fprintf(out, "[%lld]%.4f,", (long long)(c + 1), ppl);
        std::fflush(out);
        double secs = (now_ms() - start) / 1000;
        std::fprintf(err, "\r%lld/%lld chunks, %.1f s, ETA %.0f s   ", (long long)(c + 1),
                     (long long)total, secs, secs / double(c + 1) * double(total - c - 1));
      },
      o.decode);
  std::fprintf(err, "\n");
  std::fprintf(out, "\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.error);
  finish_trace(o.model);
  return 0;
}

Action add_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  o->model.n_ctx = 512;  // llama-perplexity's default window
  add_model_flags(app, o->model);
  add_trace_flag(app, o->model);
  app.add_option("-f,--file", o->file, "text to score")->required();
  app.add_option("--chunks", o->chunks, "score at most this many chunks (-1 = all)")
      ->check(CLI::Range(-1, 1 << 30));
  app.add_option("--decode", o->decode,
                 "score the last N tokens of each window as decode steps, one at a time, instead "
                 "of the second half in one pass (what decode-time attention policies change)")
      ->check(at_least(0));
  return [o] { return perplexity(*o, stdout, stderr); };
}

}  // namespace longctx::cmd
