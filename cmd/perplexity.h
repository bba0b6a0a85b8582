// `longctx perplexity` as a function a test can call: each chunk's running value and the final
// estimate to `out`, progress to `err`. Throws longctx::Error on bad input.
#pragma once

#include <cstdio>
#include <string>

#include "engine/session_setup.h"

namespace longctx::cmd {

struct PerplexityOptions {
  ModelOptions model;
  std::string file;
  int chunks = -1;
  int64_t decode = 0;
};

int perplexity(PerplexityOptions options, std::FILE* out, std::FILE* err);

}  // namespace longctx::cmd
