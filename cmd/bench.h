// `longctx bench` as a function a test can call: the table (markdown, JSON or CSV) to `out`,
// warnings to `err`. Throws longctx::Error on bad input.
#pragma once

#include <cstdio>
#include <string>

#include "engine/session_setup.h"

namespace longctx::cmd {

struct BenchOptions {
  ModelOptions model;
  int n_prompt = 512, n_gen = 128, reps = 5;
  std::string depths = "0";
  bool json = false, csv = false;
  bool peak = false;  // print the machine's multiply-accumulate rates instead (kernels/cpu/peak.h)
};

int bench(BenchOptions options, std::FILE* out, std::FILE* err);

}  // namespace longctx::cmd
