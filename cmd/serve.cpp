// `longctx serve`: the flags of the OpenAI-compatible server (serve/server.h).
#include "cmd/commands.h"
#include "cmd/generation.h"
#include "cmd/model_path.h"
#include "serve/server.h"

namespace longctx::cmd {

Action add_serve(CLI::App& app) {
  auto o = std::make_shared<serve::ServeOptions>();
  add_model_flags(app, o->model);
  app.add_option("--host", o->host, "address to listen on (default 127.0.0.1: this machine only)");
  app.add_option("--port", o->port, "port (default 8080; 0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--parallel", o->parallel,
                 "requests served at once, each with its own KV cache (default 1; the rest wait)")
      ->check(CLI::Range(1, 256));
  app.add_option("--api-key", o->api_key, "require Authorization: Bearer KEY");
  app.add_option("--chat-template", o->chat_template,
                 "template family for /v1/chat/completions (default: the model's)");
  app.add_flag("--no-think", o->no_think, "Qwen3: an empty think block in the generation prompt");
  app.add_option("--alias", o->alias, "model name in responses (default: the file name)");
  app.add_option("--max-body-mib", o->max_body_mib, "largest request body (default 64 MiB)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--http-threads", o->http_threads,
                 "HTTP worker threads: connections served at once, each read or waiting for a "
                 "session (default 64 + --parallel)")
      ->check(CLI::Range(1, 4096));
  return [o] {
    serve::ServeOptions options = *o;
    options.model.model = resolve_model(o->model.model);
    return serve::run_server(options);
  };
}

}  // namespace longctx::cmd
