// Flags and helpers shared by the commands that run a model (run, chat, perplexity).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "engine/generate.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "engine/session_setup.h"
#include "models/model.h"
#include "support/clock.h"
#include "support/memory.h"

namespace longctx::cmd {

void add_model_flags(CLI::App& app, ModelOptions& o);
// --trace-attention FILE, for the commands that offer it.
void add_trace_flag(CLI::App& app, ModelOptions& o);
// A flag's check that its value is an integer of at least `min`, in words ("-1 is not an integer
// of at least 0"): CLI11's NonNegativeNumber names its upper end, a 309-digit double.
CLI::Validator at_least(long long min);
void add_sampler_flags(CLI::App& app, SamplerOptions& o);

// Loads the model, sets the thread count, sizes the context (lowered with a warning when the
// KV cache would not fit in the memory available) and opens a session.
struct Loaded {
  std::unique_ptr<Model> model;
  std::unique_ptr<Session> session;
  double load_ms = 0;
};
Loaded load_for_generation(const ModelOptions& o);

// Hooks that write the generated text to `out` as it comes (run, chat).
GenerateHooks stream_to(std::FILE* out);

}  // namespace longctx::cmd
