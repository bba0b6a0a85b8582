#include "serve/api.h"

#include <cmath>

#include "engine/attention/registry.h"
#include "support/error.h"

namespace longctx::serve {
using nlohmann::json;

json error_body(const std::string& message, const std::string& type, const std::string& param) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", nullptr}}}};
}

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& what) {
  throw ApiError(400, "'" + field + "' " + what, field);
}

bool given(const json& body, const char* field) {
  return body.contains(field) && !body[field].is_null();
}

double number(const json& body, const char* field, double lo, double hi, double fallback) {
  if (!given(body, field)) return fallback;
  const json& v = body[field];
  if (!v.is_number()) bad(field, "must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    bad(field, "must be between " + json(lo).dump() + " and " + json(hi).dump());
  return x;
}

int64_t integer(const json& body, const char* field, int64_t lo, int64_t hi, int64_t fallback) {
  if (!given(body, field)) return fallback;
  const json& v = body[field];
  if (!v.is_number_integer()) bad(field, "must be an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
    bad(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    bad(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return x;
}

bool boolean(const json& body, const char* field, bool fallback) {
  if (!given(body, field)) return fallback;
  if (!body[field].is_boolean()) bad(field, "must be true or false");
  return body[field].get<bool>();
}

// Fields whose non-default values would change the result and are not implemented.
void refuse_unimplemented(const json& body) {
  auto only = [&](const char* field, const json& allowed, const char* why) {
    if (given(body, field) && body[field] != allowed)
      throw ApiError(400, std::string("'") + field + "' is not supported (" + why + ")", field);
  };
  only("n", 1, "one choice per prompt");
  only("best_of", 1, "one choice per prompt");
  only("presence_penalty", 0, "no penalties");
  only("frequency_penalty", 0, "no penalties");
  only("suffix", "", "no insertion");
  if (given(body, "logit_bias") && !(body["logit_bias"].is_object() && body["logit_bias"].empty()))
    throw ApiError(400, "'logit_bias' is not supported", "logit_bias");
  for (const char* f : {"tools", "functions", "tool_choice", "function_call"})
    if (given(body, f) && !(body[f].is_array() && body[f].empty()) && body[f] != "none")
      throw ApiError(400, std::string("'") + f + "' is not supported (no tool calls)", f);
  if (given(body, "response_format")) {
    const json& r = body["response_format"];
    if (!r.is_object() || r.value("type", json("text")) != "text")
      throw ApiError(400, "'response_format' other than text is not supported", "response_format");
  }
}

void common(const json& body, GenRequest& r, const ApiLimits& limits) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  refuse_unimplemented(body);
  if (given(body, "model") && !body["model"].is_string()) bad("model", "must be text");
  r.sampler.temperature = float(number(body, "temperature", 0, 2, 1.0));
  r.sampler.top_p = float(number(body, "top_p", 0, 1, 1.0));
  if (given(body, "top_p") && r.sampler.top_p <= 0) bad("top_p", "must be above 0");
  r.sampler.top_k = int32_t(integer(body, "top_k", 0, 1 << 30, 0));  // 0: off
  r.sampler.min_p = float(number(body, "min_p", 0, 1, 0.0));
  r.sampler.repeat_penalty = 1.0f;
  r.sampler.seed = given(body, "seed") ? uint64_t(integer(body, "seed", INT64_MIN, INT64_MAX, 0))
                                       : SamplerOptions::kRandomSeed;
  r.stream = boolean(body, "stream", false);
  if (given(body, "stream_options")) {
    if (!body["stream_options"].is_object()) bad("stream_options", "must be an object");
    r.include_usage = boolean(body["stream_options"], "include_usage", false);
  }
  if (given(body, "stop")) {
    const json& s = body["stop"];
    if (s.is_string()) {
      r.stop = {s.get<std::string>()};
    } else if (s.is_array()) {
      if (s.size() > limits.max_stops)
        bad("stop", "holds more than " + std::to_string(limits.max_stops) + " sequences");
      for (const auto& x : s) {
        if (!x.is_string()) bad("stop", "must be text or a list of texts");
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      bad("stop", "must be text or a list of texts");
    }
    for (const auto& x : r.stop) {
      if (x.empty()) bad("stop", "holds an empty sequence");
      if (x.size() > limits.max_stop_bytes) bad("stop", "holds a sequence over 1024 bytes");
    }
  }
  if (given(body, "attention")) {
    if (!body["attention"].is_string()) bad("attention", "must be text (the syntax of --attn)");
    r.attention = body["attention"].get<std::string>();
    if (r.attention.ends_with(".json"))
      bad("attention", "names a file; per-layer presets are chosen when the server starts");
    try {
      policies_for_all_layers(r.attention, 1);  // a bad spec is named here, before any work
    } catch (const Error& e) {
      throw ApiError(400, std::string("'attention': ") + e.what(), "attention");
    }
  }
}

// Every prompt and its generation within the context.
void check_lengths(GenRequest& r, const json& body, const ApiLimits& limits, bool chat) {
  const char* mt =
      chat && given(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  int64_t longest = 0;
  for (const auto& p : r.prompts) longest = std::max(longest, int64_t(p.size()));
  if (longest >= limits.n_ctx)
    throw ApiError(400,
                   "the prompt has " + std::to_string(longest) + " tokens; this server's context " +
                       "holds " + std::to_string(limits.n_ctx) + " (prompt and completion)",
                   chat ? "messages" : "prompt");
  // OpenAI's defaults: 16 for completions, what the context leaves for chat.
  r.max_tokens =
      integer(body, mt, chat ? 1 : 0, limits.n_ctx,
              chat ? limits.n_ctx - longest : std::min<int64_t>(16, limits.n_ctx - longest));
  if (longest + r.max_tokens > limits.n_ctx)
    throw ApiError(400,
                   "the prompt (" + std::to_string(longest) + " tokens) and " + mt + " (" +
                       std::to_string(r.max_tokens) + ") exceed this server's context of " +
                       std::to_string(limits.n_ctx) + " tokens",
                   mt);
}

std::vector<int32_t> token_ids(const json& ids, const tokenizer::Tokenizer& tok) {
  std::vector<int32_t> out;
  for (const auto& t : ids) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.vocab_size())
      bad("prompt", "holds a token id outside the vocabulary (0-" +
                        std::to_string(tok.vocab_size() - 1) + ")");
    out.push_back(int32_t(t.get<int64_t>()));
  }
  return out;
}

}  // namespace

GenRequest parse_completion(const json& body, const tokenizer::Tokenizer& tok,
                            const ApiLimits& limits) {
  GenRequest r;
  common(body, r, limits);
  if (!given(body, "prompt")) throw ApiError(400, "'prompt' is required", "prompt");
  const json& p = body["prompt"];
  auto text = [&](const json& s) { return tok.encode(s.get<std::string>(), true, true); };
  if (p.is_string()) {
    r.prompts.push_back(text(p));
  } else if (p.is_array() && !p.empty() && p[0].is_number()) {
    r.prompts.push_back(token_ids(p, tok));
  } else if (p.is_array() && !p.empty()) {
    if (p.size() > limits.max_prompts)
      bad("prompt", "holds more than " + std::to_string(limits.max_prompts) + " prompts");
    for (const auto& x : p) {
      if (x.is_string())
        r.prompts.push_back(text(x));
      else if (x.is_array())
        r.prompts.push_back(token_ids(x, tok));
      else
        bad("prompt", "must be text, token ids, or a list of either");
    }
  } else {
    bad("prompt", "must be text, token ids, or a non-empty list of either");
  }
  for (const auto& x : r.prompts)
    if (x.empty()) bad("prompt", "is empty");
  r.echo = boolean(body, "echo", false);
  if (given(body, "logprobs")) r.logprobs = int(integer(body, "logprobs", 0, 20, 0));
  check_lengths(r, body, limits, false);
  if (r.stream && r.prompts.size() > 1) bad("stream", "takes one prompt");
  return r;
}

GenRequest parse_chat(const json& body, const tokenizer::Tokenizer& tok,
                      const tokenizer::ChatTemplate& chat, const ApiLimits& limits) {
  GenRequest r;
  r.chat = true;
  common(body, r, limits);
  if (given(body, "logprobs") && body["logprobs"] != false)
    throw ApiError(400, "'logprobs' is not supported on chat completions (use /v1/completions)",
                   "logprobs");
  if (!given(body, "messages")) throw ApiError(400, "'messages' is required", "messages");
  const json& m = body["messages"];
  if (!m.is_array() || m.empty()) bad("messages", "must be a non-empty list");
  std::vector<tokenizer::ChatMessage> turns;
  for (const auto& x : m) {
    if (!x.is_object() || !x.contains("role") || !x["role"].is_string())
      bad("messages", "must hold objects with a 'role' and a 'content'");
    const std::string role = x["role"];
    if (role != "system" && role != "user" && role != "assistant" && role != "developer")
      bad("messages", "holds a role '" + role + "' (system, developer, user or assistant)");
    std::string content;
    const json c = x.value("content", json(nullptr));
    if (c.is_string()) {
      content = c.get<std::string>();
    } else if (c.is_array()) {
      for (const auto& part : c) {
        if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") ||
            !part["text"].is_string())
          bad("messages", "content parts must be {\"type\": \"text\", \"text\": ...}");
        content += part["text"].get<std::string>();
      }
    } else {
      bad("messages", "content must be text or a list of text parts");
    }
    turns.push_back({role == "developer" ? "system" : role, content});
  }
  r.prompts.push_back(tok.encode(chat.render(turns, true), false, true));
  check_lengths(r, body, limits, true);
  return r;
}

}  // namespace longctx::serve
