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
  enum class Family { ChatML, Gemma, Llama3, Llama2, Mistral };

  // The family the vocabulary's template text belongs to; a model without a template gets its
  // architecture's family when it has one (Gemma 3 GGUFs often ship none). Throws longctx::Error
  // for a template longctx does not recognise, naming --chat-template as the way out.
  static ChatTemplate detect(const Vocab& vocab);
  // --chat-template NAME: chatml, gemma, llama3, llama2, mistral.
  static ChatTemplate named(std::string_view name, const Vocab& vocab);
  static std::string known_names();
  // `named(name)` when a name is given (--chat-template), else `detect`.
  static ChatTemplate choose(std::string_view name, const Vocab& vocab);

  // The prompt text; control tokens appear as text, so encode it with parse_special and
  // without adding BOS (the template writes it where the model expects it).
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
  std::string_view name() const;
  Family family() const { return family_; }

 private:
  ChatTemplate(Family family, const Vocab& vocab);
  Family family_;
  std::string bos_, eos_;
  std::string default_system_;  // ChatML: written when the conversation has no system message
  bool llama31_dates_ = false;  // Llama 3.1: the system header carries knowledge/today dates
};

}  // namespace longctx::tokenizer
