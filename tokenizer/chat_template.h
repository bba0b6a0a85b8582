// Chat templates without a Jinja engine: the template families in use are recognised from the
// model's template text and rendered exactly as that text would render (checked against
// transformers in tests/fixtures/tokenizer).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "tokenizer/vocab.h"

namespace longctx::tokenizer {

struct ChatMessage {
  std::string role;  // system, user, assistant
  std::string content;
};

class ChatTemplate {
 public:
  // Mistral: [INST] with spaces, the system message in the first turn (v0.1, v0.2); MistralV3:
  // [INST] without spaces, the system message in the last user turn (Nemo, Small: v3/tekken).
  // Qwen3: ChatML with thinking tags (past turns' reasoning dropped, an empty think block when
  // thinking is off).
  enum class Family { ChatML, Gemma, Llama3, Llama2, Mistral, MistralV3, Phi3, Qwen3 };

  // The family the vocabulary's template text belongs to; a model without a template gets its
  // architecture's family when it has one (Gemma 3 GGUFs often ship none). Throws longctx::Error
  // for a template longctx does not recognise, naming --chat-template as the way out.
  static ChatTemplate detect(const Vocab& vocab);
  // --chat-template NAME: chatml, gemma, llama3, llama2, mistral, mistral-v3, phi3, qwen3.
  static ChatTemplate named(std::string_view name, const Vocab& vocab);
  static std::string known_names();
  // `named(name)` when a name is given (--chat-template), else `detect`.
  static ChatTemplate choose(std::string_view name, const Vocab& vocab);

  // The prompt text; control tokens appear as text, so encode it with parse_special and
  // without adding BOS (the template writes it where the model expects it).
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
  std::string_view name() const;
  Family family() const { return family_; }
  // Qwen3's enable_thinking (on unless turned off): off, the generation prompt holds an empty
  // think block so the model answers directly.
  void set_thinking(bool on) { thinking_ = on; }

 private:
  ChatTemplate(Family family, const Vocab& vocab);
  Family family_;
  std::string bos_, eos_;
  std::string default_system_;  // ChatML: written when the conversation has no system message
  bool llama31_dates_ = false;  // Llama 3.1: the system header carries knowledge/today dates
  bool thinking_ = true;
};

}  // namespace longctx::tokenizer
