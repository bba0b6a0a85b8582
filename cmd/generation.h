// Flags and helpers shared by the commands that run a model (run, chat, perplexity).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "engine/sampler.h"
#include "engine/session.h"
#include "models/model.h"

namespace longctx::cmd {

struct ModelOptions {
  std::string model;
  int64_t n_ctx = 0;  // 0: the model's context
  int64_t n_batch = 512;
  int threads = 0;  // 0: all cores
};

void add_model_flags(CLI::App& app, ModelOptions& o);
void add_sampler_flags(CLI::App& app, SamplerOptions& o);

// Loads the model, sets the thread count, sizes the context (lowered with a warning when the
// KV cache would not fit in the memory available) and opens a session.
struct Loaded {
  std::unique_ptr<Model> model;
  std::unique_ptr<Session> session;
  double load_ms = 0;
};
Loaded load_for_generation(const ModelOptions& o);

std::string read_file(const std::string& path);
double now_ms();
long peak_rss_bytes();

}  // namespace longctx::cmd
