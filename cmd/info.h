// `longctx info` as a function a test can call: a model's hyper-parameters, tokenizer and tensors
// to `out`, as text or JSON. Throws longctx::Error on a file it cannot read.
#pragma once

#include <cstdio>
#include <string>

namespace longctx::cmd {

struct InfoOptions {
  std::string model;
  bool json = false;
};

int info(InfoOptions options, std::FILE* out);

}  // namespace longctx::cmd
