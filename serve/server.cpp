#include "serve/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <omp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "serve/api.h"
#include "serve/generate.h"
#include "support/error.h"

namespace longctx::serve {
using nlohmann::json;

namespace {

// HTTP worker threads by default: every connection holds one while it is read, so a handful of
// slow clients must not leave /health unanswered (llama-server sizes its pool by --parallel + 2
// and the cores; an idle thread costs little). A reverse proxy with header timeouts is the answer
// to more hostile clients than this (docs/serve.md).
constexpr int kDefaultHttpThreads = 64;
// Pending connections the kernel queues before accept (cpp-httplib's is 5: a burst of clients
// would wait for SYN retries); capped by net.core.somaxconn.
constexpr int kListenBacklog = 4096;

// cpp-httplib listens with its own backlog and keeps the socket private: find the listening
// socket on `port` among this process's descriptors and listen again, which on Linux sets the
// backlog of a socket already listening.
void raise_listen_backlog(int port) {
  for (int fd = 0; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) continue;
    const int bound = addr.ss_family == AF_INET6
                          ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                          : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (bound == port && listen(fd, kListenBacklog) == 0) return;
  }
  spdlog::warn("serve: could not raise the listen backlog of port {}", port);
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* status_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& param = "") {
  res.status = status;
  res.set_content(dump(error_body(message, status_type(status), param)), "application/json");
}

class Server {
 public:
  Server(const ServeOptions& o) : o_(o) {
    model_path_ = o.model.model;
    threads_ = request_threads(o.model.threads, o.parallel);
    omp_set_num_threads(threads_);
    model_ = load_model(model_path_);
    tok_ = tokenizer::Tokenizer::create(model_->vocab);
    try {
      chat_ = tokenizer::ChatTemplate::choose(o.chat_template, tok_->vocab());
      chat_->set_thinking(!o.no_think);
    } catch (const Error& e) {
      if (!o.chat_template.empty()) throw;
      chat_error_ = e.what();  // completions still work; chat says why not
    }
    pool_ = std::make_unique<SessionPool>(*model_, o.model, o.parallel);
    limits_.n_ctx = pool_->n_ctx();
    name_ = o.alias.empty() ? std::filesystem::path(model_path_).filename().string() : o.alias;
  }

  int run() {
    httplib::Server svr;
    const int http_threads =
        o_.http_threads > 0 ? o_.http_threads : kDefaultHttpThreads + o_.parallel;
    svr.new_task_queue = [http_threads] { return new httplib::ThreadPool(size_t(http_threads)); };
    svr.set_payload_max_length(size_t(o_.max_body_mib) << 20);
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // Every request runs on one of the HTTP pool's threads, and OpenMP's thread count is a
      // setting of the calling thread: give each worker the server's count per request.
      omp_set_num_threads(threads_);
      if (o_.api_key.empty() || req.path == "/health")
        return httplib::Server::HandlerResponse::Unhandled;
      if (req.get_header_value("Authorization") == "Bearer " + o_.api_key)
        return httplib::Server::HandlerResponse::Unhandled;
      send_error(res, 401, "a valid API key is required: Authorization: Bearer KEY");
      return httplib::Server::HandlerResponse::Handled;
    });
    svr.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413)
        send_error(res, 413,
                   "the request body exceeds " + std::to_string(o_.max_body_mib) + " MiB");
      else if (res.status == 404)
        send_error(res, 404, "no route " + req.method + " " + req.path);
      else
        send_error(res, res.status, "HTTP status " + std::to_string(res.status));
    });
    svr.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "internal error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          send_error(res, 500, what);
        });
    svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      json m = {
          {"id", name_}, {"object", "model"}, {"created", unix_time()}, {"owned_by", "longctx"}};
      res.set_content(dump({{"object", "list"}, {"data", {m}}}), "application/json");
    });
    svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res, false);
    });
    svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res, true);
    });
    const int port = o_.port == 0 ? svr.bind_to_any_port(o_.host)
                                  : (svr.bind_to_port(o_.host, o_.port) ? o_.port : -1);
    if (port <= 0)
      throw Error("cannot listen on " + o_.host + ":" + std::to_string(o_.port) +
                  " (in use, or not an address of this machine)");
    raise_listen_backlog(port);
    std::fprintf(stderr,
                 "longctx serve: listening on http://%s:%d (model %s, context %lld, attention "
                 "%s, %d parallel x %d threads, %d HTTP workers)\n",
                 o_.host.c_str(), port, name_.c_str(), (long long)pool_->n_ctx(),
                 pool_->default_mode().c_str(), o_.parallel, threads_, http_threads);
    std::fflush(stderr);
    return svr.listen_after_bind() ? 0 : 1;
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res, bool chat) {
    try {
      json body;
      try {
        body = json::parse(req.body);
      } catch (const json::exception& e) {
        throw ApiError(400, std::string("the request body is not JSON (") + e.what() + ")");
      }
      if (chat && !chat_) throw ApiError(400, "this model has no chat template: " + chat_error_);
      auto r = std::make_shared<GenRequest>(chat ? parse_chat(body, *tok_, *chat_, limits_)
                                                 : parse_completion(body, *tok_, limits_));
      if (r->stream && (r->logprobs >= 0 || r->echo))
        throw ApiError(400, "'stream' with logprobs or echo is not supported", "stream");
      const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(++counter_);
      if (r->stream) {
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider("text/event-stream",
                                         [this, r, id, chat](size_t, httplib::DataSink& sink) {
                                           stream(*r, id, chat, sink);
                                           return true;
                                         });
        return;
      }
      auto lease = pool_->acquire(r->attention);
      json choices = json::array();
      int64_t prompt_tokens = 0, completion_tokens = 0;
      for (size_t i = 0; i < r->prompts.size(); ++i) {
        Choice c = generate_choice(lease->session(), *tok_, *r, i,
                                   [](const std::string&) { return true; });
        prompt_tokens += c.prompt_tokens;
        completion_tokens += c.completion_tokens;
        json choice = {{"index", i}, {"finish_reason", c.finish_reason}, {"logprobs", c.logprobs}};
        if (chat)
          choice["message"] = {{"role", "assistant"}, {"content", c.text}};
        else
          choice["text"] = c.text;
        choices.push_back(choice);
      }
      json out = {{"id", id},
                  {"object", chat ? "chat.completion" : "text_completion"},
                  {"created", unix_time()},
                  {"model", name_},
                  {"choices", choices},
                  {"usage",
                   {{"prompt_tokens", prompt_tokens},
                    {"completion_tokens", completion_tokens},
                    {"total_tokens", prompt_tokens + completion_tokens}}},
                  {"longctx", extension(*lease)}};
      res.set_content(dump(out), "application/json");
    } catch (const ApiError& e) {
      send_error(res, e.status, e.what(), e.param);
    } catch (const Error& e) {
      send_error(res, 400, e.what());
    }
  }

  json extension(SessionPool::Lease& lease) const {
    return {{"attention", lease.mode().empty() ? pool_->default_mode() : lease.mode()},
            {"kv_held_bytes", lease.session().held_kv_bytes()},
            {"kv_bytes", lease.session().kv_bytes()},
            {"threads", omp_get_max_threads()}};
  }

  // Server-sent events: one chunk per piece of text, a last chunk with the finish reason, the
  // usage when asked, then [DONE]. A client that goes away ends the generation and frees its
  // session.
  void stream(const GenRequest& r, const std::string& id, bool chat, httplib::DataSink& sink) {
    const int64_t created = unix_time();
    auto send = [&](const json& j) {
      const std::string event = "data: " + dump(j) + "\n\n";
      return sink.write(event.data(), event.size());
    };
    auto chunk = [&](const json& delta_or_text, const json& finish) {
      json choice = {{"index", 0}, {"finish_reason", finish}};
      if (chat)
        choice["delta"] = delta_or_text;
      else {
        choice["text"] = delta_or_text;
        choice["logprobs"] = nullptr;
      }
      return json{{"id", id},
                  {"object", chat ? "chat.completion.chunk" : "text_completion"},
                  {"created", created},
                  {"model", name_},
                  {"choices", {choice}}};
    };
    try {
      auto lease = pool_->acquire(r.attention);
      if (chat && !send(chunk({{"role", "assistant"}, {"content", ""}}, nullptr))) return;
      Choice c = generate_choice(lease->session(), *tok_, r, 0, [&](const std::string& piece) {
        return send(chunk(chat ? json{{"content", piece}} : json(piece), nullptr));
      });
      json last = chunk(chat ? json::object() : json(""), c.finish_reason);
      last["longctx"] = extension(*lease);
      if (!send(last)) return;
      if (r.include_usage) {
        json u = chunk(json::object(), nullptr);
        u["choices"] = json::array();
        u["usage"] = {{"prompt_tokens", c.prompt_tokens},
                      {"completion_tokens", c.completion_tokens},
                      {"total_tokens", c.prompt_tokens + c.completion_tokens}};
        if (!send(u)) return;
      }
      const std::string done = "data: [DONE]\n\n";
      if (sink.write(done.data(), done.size())) sink.done();
    } catch (const std::exception& e) {
      send(error_body(e.what(), "server_error"));
      sink.done();
    }
  }

  ServeOptions o_;
  std::string model_path_, name_, chat_error_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tok_;
  std::optional<tokenizer::ChatTemplate> chat_;
  std::unique_ptr<SessionPool> pool_;
  int threads_ = 1;  // compute threads of one request
  ApiLimits limits_;
  std::atomic<int64_t> counter_{0};
};

}  // namespace

int run_server(const ServeOptions& options) {
  Server server(options);
  return server.run();
}

}  // namespace longctx::serve
