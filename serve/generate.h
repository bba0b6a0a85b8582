// What `longctx serve` does with a checked request: sessions for N requests at once (one KV cache
// each, built for the attention mode a request asks for, the rest of the requests waiting), and
// one choice generated in a session with OpenAI's semantics (stop sequences cut and held back while
// they may still be forming, finish_reason, logprobs with their top alternatives, echo).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/session_setup.h"
#include "serve/api.h"

namespace longctx::serve {

class SessionPool {
 public:
  // `n` sessions with the options' context; the first is built now (its memory checked, the
  // context settled), the others when first needed. Throws longctx::Error when n of them cannot
  // fit in the memory available.
  SessionPool(const Model& model, ModelOptions options, int n);
  int64_t n_ctx() const { return options_.n_ctx; }
  std::string default_mode() const;

  class Lease {
   public:
    Lease(SessionPool& pool, size_t slot) : pool_(pool), slot_(slot) {}
    ~Lease();
    Session& session() { return *pool_.slots_[slot_].session; }
    const std::string& mode() const { return pool_.slots_[slot_].mode; }

   private:
    SessionPool& pool_;
    size_t slot_;
  };
  // Waits for a free session and gives it `mode` ("" = the server's), rebuilding it when it
  // holds another.
  std::unique_ptr<Lease> acquire(const std::string& mode);

 private:
  struct Slot {
    std::unique_ptr<Session> session;
    std::string mode;
    bool busy = false;
  };
  const Model& model_;
  ModelOptions options_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<Slot> slots_;
};

struct Choice {
  std::string text;
  std::string finish_reason;  // stop (end of generation or a stop sequence) or length
  int64_t prompt_tokens = 0, completion_tokens = 0;
  nlohmann::json logprobs;  // null unless asked for
};

// Choice `index` of `r` in `session`. `emit` receives the text as it becomes final (never a part
// of a stop sequence) and returns false when the client is gone, which ends the generation.
Choice generate_choice(Session& session, const tokenizer::Tokenizer& tok, const GenRequest& r,
                       size_t index, const std::function<bool(const std::string&)>& emit);

}  // namespace longctx::serve
