// The OpenAI-compatible request bodies `longctx serve` accepts, checked field by field: a request
// becomes a GenRequest (token ids, sampling, stops, streaming, logprobs, attention mode) or an
// ApiError naming the field, which the server answers with status 400 and OpenAI's error body.
// Fields that would change the result and are not implemented (n > 1, penalties, logit_bias,
// tools, ...) are refused by name rather than ignored; other unknown fields are ignored, as
// OpenAI's own server does.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "support/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace longctx::serve {

// A longctx::Error with the HTTP status and the field it is about.
class ApiError : public Error {
 public:
  ApiError(int status, const std::string& message, std::string param = "",
           std::string type = "invalid_request_error")
      : Error(message), status(status), param(std::move(param)), type(std::move(type)) {}
  int status;
  std::string param, type;
};

// {"error": {"message", "type", "param", "code"}}
nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::string& param = "");

struct GenRequest {
  bool chat = false;
  std::vector<std::vector<int32_t>> prompts;  // one per choice
  int64_t max_tokens = 16;
  SamplerOptions sampler;
  std::vector<std::string> stop;
  bool stream = false, echo = false, include_usage = false;
  int logprobs = -1;      // completions: alternatives per token (0-20); -1: no logprobs
  std::string attention;  // --attn syntax; empty: the server's mode
};

struct ApiLimits {
  int64_t n_ctx = 0;        // every prompt plus max_tokens must fit
  size_t max_prompts = 64;  // a completions batch
  size_t max_stops = 16;
  size_t max_stop_bytes = 1024;
};

// POST /v1/completions: prompt as text, a list of texts, token ids or a list of id lists.
GenRequest parse_completion(const nlohmann::json& body, const tokenizer::Tokenizer& tok,
                            const ApiLimits& limits);
// POST /v1/chat/completions: messages rendered with the model's chat template.
GenRequest parse_chat(const nlohmann::json& body, const tokenizer::Tokenizer& tok,
                      const tokenizer::ChatTemplate& chat, const ApiLimits& limits);

}  // namespace longctx::serve
