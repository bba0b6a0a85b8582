#include "eval/sample.h"

namespace longctx::eval {

std::string EvalSample::id() const {
  return benchmark + "/" + task + "/" + std::to_string(length) + "/" + std::to_string(index);
}

std::string PromptFormat::text(std::string_view user, bool use_chat,
                               std::string_view system) const {
  if (chat_ && use_chat) {
    std::vector<tokenizer::ChatMessage> turn;
    if (!system.empty()) turn.push_back({"system", std::string(system)});
    turn.push_back({"user", std::string(user)});
    return chat_->render(turn, true);
  }
  return system.empty() ? std::string(user) : std::string(system) + "\n\n" + std::string(user);
}

std::vector<int32_t> PromptFormat::encode(std::string_view user, std::string_view answer_prefix,
                                          bool use_chat, std::string_view system) const {
  std::string t = text(user, use_chat, system);
  t += answer_prefix;
  // The template writes BOS and the control tokens as text; the task text itself holds none.
  if (chat_ && use_chat) return tok_.encode(t, false, true);
  return tok_.encode(t, true, false);
}

std::vector<int32_t> PromptFormat::encode_prepared(std::string_view text) const {
  std::vector<int32_t> ids = tok_.encode(text, false, true);
  const tokenizer::Vocab& v = tok_.vocab();
  if (v.add_bos && v.bos >= 0 && (ids.empty() || ids.front() != v.bos))
    ids.insert(ids.begin(), v.bos);
  return ids;
}

}  // namespace longctx::eval
