#include "engine/eval/sample.h"

namespace longctx::eval {

std::string EvalSample::id() const {
  return benchmark + "/" + task + "/" + std::to_string(length) + "/" + std::to_string(index);
}

std::vector<int32_t> PromptFormat::encode(std::string_view user, std::string_view answer_prefix,
                                          bool use_chat, std::string_view system) const {
  if (chat_ && use_chat) {
    std::vector<tokenizer::ChatMessage> turn;
    if (!system.empty()) turn.push_back({"system", std::string(system)});
    turn.push_back({"user", std::string(user)});
    std::string text = chat_->render(turn, true);
    text += answer_prefix;
    // The template writes BOS and the control tokens as text; the task text itself holds none.
    return tok_.encode(text, false, true);
  }
  std::string text =
      system.empty() ? std::string(user) : std::string(system) + "\n\n" + std::string(user);
  text += answer_prefix;
  return tok_.encode(text, true, false);
}

}  // namespace longctx::eval
