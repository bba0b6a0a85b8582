// `longctx tokenize` as a function a test can call: the tokens (ids, pieces or a count) to `out`,
// the timing to `err`. Throws longctx::Error on bad input.
#pragma once

#include <cstdio>
#include <string>

namespace longctx::cmd {

struct TokenizeOptions {
  std::string model, text, file, chat_template;
  bool chat = false;
  bool ids = false, pieces = false, count = false, no_bos = false, no_special = false;
};

int tokenize_text(TokenizeOptions options, std::FILE* out, std::FILE* err);

}  // namespace longctx::cmd
