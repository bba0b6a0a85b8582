// `longctx perplexity -f FILE [-c 512] [--chunks N]`: windowed perplexity as llama.cpp's
// llama-perplexity computes it (gguf.md 6.5): the text cut into chunks of n_ctx tokens, the first
// token of each chunk replaced by BOS when the vocabulary adds one, and only the second half of
// each chunk scored.
#include <cmath>
#include <cstdio>

#include "cmd/commands.h"
#include "cmd/generation.h"
#include "support/error.h"
#include "tokenizer/tokenizer.h"

namespace longctx::cmd {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  std::string file;
  int chunks = -1;
};

}  // namespace

Action add_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  o->model.n_ctx = 512;  // llama-perplexity's default window
  add_model_flags(app, o->model);
  app.add_option("-f,--file", o->file, "text to score")->required();
  app.add_option("--chunks", o->chunks, "score at most this many chunks (-1 = all)")
      ->check(CLI::Range(-1, 1 << 30));
  return [o] {
    std::string text = read_file(o->file);
    if (o->model.n_batch < o->model.n_ctx) o->model.n_batch = o->model.n_ctx;
    Loaded l = load_for_generation(o->model);
    auto tok = tokenizer::Tokenizer::create(l.model->vocab);
    std::vector<int32_t> tokens = tok->encode(text, true, false);
    const int64_t n_ctx = o->model.n_ctx;
    if (n_ctx < 16) throw Error("perplexity: -c must be at least 16");
    if (int64_t(tokens.size()) < 2 * n_ctx) {
      throw Error("perplexity: " + o->file + " has " + std::to_string(tokens.size()) +
                  " tokens; at least 2 * n_ctx = " + std::to_string(2 * n_ctx) + " are needed");
    }
    int64_t n_chunks = int64_t(tokens.size()) / n_ctx;
    if (o->chunks >= 0) n_chunks = std::min<int64_t>(n_chunks, o->chunks);
    const int64_t first = n_ctx / 2;
    const int64_t n_vocab = l.model->config.n_vocab;
    bool add_bos = l.model->vocab.add_bos && tok->bos() >= 0;
    std::fprintf(stderr,
                 "perplexity: %zu tokens, %lld chunks of %lld, scoring the second half of each\n",
                 tokens.size(), (long long)n_chunks, (long long)n_ctx);
    double nll = 0, nll2 = 0;
    int64_t count = 0;
    double start = now_ms();
    for (int64_t c = 0; c < n_chunks; ++c) {
      std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
      if (add_bos) chunk[0] = tok->bos();
      l.session->clear();
      auto logits = l.session->eval(chunk, true);
      for (int64_t j = first; j < n_ctx - 1; ++j) {
        const float* row = logits.data() + j * n_vocab;
        float max = row[0];
        for (int64_t v = 1; v < n_vocab; ++v) max = std::max(max, row[v]);
        double sum = 0;
        for (int64_t v = 0; v < n_vocab; ++v) sum += std::exp(double(row[v] - max));
        int32_t target = tokens[size_t(c * n_ctx + j + 1)];
        double lp = double(row[target] - max) - std::log(sum);
        nll -= lp;
        nll2 += lp * lp;
        ++count;
      }
      std::printf("[%lld]%.4f,", (long long)(c + 1), std::exp(nll / double(count)));
      std::fflush(stdout);
      if (c == 0) {
        double secs = (now_ms() - start) / 1000;
        std::fprintf(stderr, "\nperplexity: %.2f seconds per chunk, ETA %.1f minutes\n", secs,
                     secs * double(n_chunks - 1) / 60);
      }
    }
    double mean = nll / double(count);
    double var = nll2 / double(count) - mean * mean;
    double err = count > 1 ? std::sqrt(var / double(count - 1)) : 0;
    double ppl = std::exp(mean);
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, ppl * err);
    return 0;
  };
}

}  // namespace longctx::cmd
