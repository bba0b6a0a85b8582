// `longctx serve`'s server: an OpenAI-compatible HTTP API (cpp-httplib) over one loaded model, so
// RULER's, LongBench's and lm-evaluation-harness's own clients can drive any attention mode.
// Routes: POST /v1/completions, POST /v1/chat/completions (stream: server-sent events), GET
// /v1/models, GET /health. The extension field `attention` picks the mode per request; every
// response says the mode used and the KV memory it held (`longctx`).
#pragma once

#include <cstdint>
#include <string>

#include "engine/session_setup.h"

namespace longctx::serve {

struct ServeOptions {
  ModelOptions model;  // model: the path to load
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 1;
  int http_threads = 0;  // 0: kDefaultHttpThreads + parallel
  std::string api_key, chat_template, alias;
  bool no_think = false;
  int64_t max_body_mib = 64;
};

// Loads the model, listens and answers until the process ends. Throws longctx::Error when the
// model, the sessions or the address cannot be had.
int run_server(const ServeOptions& options);

}  // namespace longctx::serve
