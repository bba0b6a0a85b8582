// `longctx run` as a function a test can call: the options its flags set, the continuation to
// `out`, the header and the timings to `err`.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/session_setup.h"

namespace longctx::cmd {

struct RunOptions {
  ModelOptions model;
  SamplerOptions sampler;
  std::string prompt, file, chat_template;
  int n_predict = 128;  // -1: until the context is full
  bool chat = false;
  bool no_think = false;
  bool ignore_eos = false;
  std::vector<std::string> stop;
};

// Throws longctx::Error on bad input (no prompt, an empty one, one longer than the context).
int run_prompt(RunOptions options, std::FILE* out, std::FILE* err);

}  // namespace longctx::cmd
