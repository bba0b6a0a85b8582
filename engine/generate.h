// The generation loop, once for every command (run, chat, serve, eval): pick a token from the
// logits, end at an end-of-generation token, a stop token, a stop string or the budget, stream the
// text as it becomes final, stop when the context is full, and time it.
//
// Stop strings follow OpenAI's semantics: the text ends before the first stop string, one that
// forms across several tokens included, and text that may still become a stop string is held
// back from the stream until it cannot. A character whose bytes are cut by the end of the
// generation is streamed as U+FFFD, as the Hugging Face tokenizers decode it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler.h"
#include "engine/session.h"
#include "tokenizer/tokenizer.h"

namespace longctx {

enum class Finish {
  EndOfGeneration,  // the model's end-of-generation token (not part of the output)
  StopToken,        // one of the options' stop tokens (part of the output)
  StopString,       // a stop string formed (the text ends before it)
  Limit,            // the budget of new tokens
  ContextFull,      // no room for another token
  Cancelled,        // the listener went away
};
// "end of generation", "stop token", "stop string", "limit", "context full", "cancelled".
const char* finish_name(Finish f);

struct GenerateOptions {
  int64_t max_tokens = 128;          // new tokens at most
  std::vector<std::string> stop;     // stop strings (empty ones are ignored)
  std::vector<int32_t> stop_tokens;  // tokens that end the generation after being emitted
  int64_t min_tokens = 0;            // end-of-generation and stop tokens are not picked before
                                     // this many tokens (transformers' min_new_tokens)
  bool ignore_eos = false;           // end-of-generation tokens are ordinary tokens
  bool skip_special = true;          // the text leaves out special tokens
};

struct Generation {
  std::vector<int32_t> tokens;  // the tokens picked, in order (an end-of-generation token not)
  std::string text;             // their text, ended before a stop string
  Finish finish = Finish::Limit;
  int64_t decode_steps = 0;  // tokens evaluated after the prompt: the session holds
                             // prompt + tokens[0, decode_steps)
  double ms = 0;             // from the first pick to the end
};

struct GenerateHooks {
  // Each picked token with the logits it was picked from (before any min_tokens ban), before it
  // is evaluated: serve's logprobs.
  std::function<void(int32_t token, std::span<const float> logits)> on_token;
  // The text as it becomes final, in order; false when no one listens any more, which ends the
  // generation (Finish::Cancelled).
  std::function<bool(std::string_view text)> emit;
};

// Generates after a prompt whose last logits are `logits` in `session`. `history` is what the
// sampler's repetition penalty looks back over (the prompt's tokens).
Generation generate(Session& session, const tokenizer::Tokenizer& tok, Sampler& sampler,
                    std::span<const float> logits, std::vector<int32_t> history,
                    const GenerateOptions& options, const GenerateHooks& hooks = {});

// The length of the longest suffix of `text` that is a proper prefix of one of `stops`: text that
// may still become a stop string.
size_t pending_stop(std::string_view text, const std::vector<std::string>& stops);

}  // namespace longctx
