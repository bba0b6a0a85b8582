// `longctx chat` as a function a test can call: user turns read from `in`, one per line (an empty
// line or the end ends the chat), each reply and a newline to `out`, the rest to `err`.
#pragma once

#include <cstdio>
#include <istream>
#include <string>

#include "engine/sampler.h"
#include "engine/session_setup.h"

namespace longctx::cmd {

struct ChatOptions {
  ModelOptions model;
  SamplerOptions sampler;
  std::string system, chat_template;
  bool no_think = false;
  int n_predict = 512;  // the most tokens of one reply
};

// `interactive`: someone types (a terminal), so each turn is prompted with "> " on `err`.
// Throws longctx::Error when the conversation outgrows the context.
int chat(const ChatOptions& options, std::istream& in, std::FILE* out, std::FILE* err,
         bool interactive);

}  // namespace longctx::cmd
