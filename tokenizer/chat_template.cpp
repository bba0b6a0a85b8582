#include "tokenizer/chat_template.h"

#include "support/error.h"

namespace longctx::tokenizer {
namespace {

struct FamilyName {
  ChatTemplate::Family family;
  std::string_view name;
};
constexpr FamilyName kFamilies[] = {
    {ChatTemplate::Family::ChatML, "chatml"},   {ChatTemplate::Family::Gemma, "gemma"},
    {ChatTemplate::Family::Llama3, "llama3"},   {ChatTemplate::Family::Llama2, "llama2"},
    {ChatTemplate::Family::Mistral, "mistral"}, {ChatTemplate::Family::MistralV3, "mistral-v3"},
    {ChatTemplate::Family::Phi3, "phi3"},       {ChatTemplate::Family::Qwen3, "qwen3"},
};

// Python's str.strip / lstrip / rstrip of newlines only, as Qwen3's template uses them.
std::string_view lstrip_nl(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view rstrip_nl(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

// Qwen3's split of an assistant message into reasoning and answer: the answer follows the last
// </think>, the reasoning is what the last <think> opens before the first </think>.
void split_thinking(std::string_view message, std::string_view& reasoning,
                    std::string_view& answer) {
  reasoning = {};
  answer = message;
  const size_t close = message.find("</think>");
  if (close == std::string_view::npos) return;
  answer = lstrip_nl(message.substr(message.rfind("</think>") + 8));
  std::string_view before = rstrip_nl(message.substr(0, close));
  const size_t open = before.rfind("<think>");
  reasoning = lstrip_nl(open == std::string_view::npos ? before : before.substr(open + 7));
}

// Jinja's `trim` filter is Python's str.strip(): ASCII whitespace and the separators below.
std::string trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\v\f\x1c\x1d\x1e\x1f";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return std::string(s.substr(b, e - b + 1));
}

std::string token_text(const Vocab& v, int32_t id) {
  return id >= 0 && id < int32_t(v.tokens.size()) ? v.tokens[size_t(id)] : std::string();
}

// A ChatML template's built-in system message, e.g. SmolLM2's "You are a helpful AI assistant
// named SmolLM, ..." or Qwen2.5's "You are Qwen, ...": the literal text between
// "<|im_start|>system" + newline and "<|im_end|>" inside one string literal.
std::string chatml_default_system(const std::string& tpl) {
  const std::string head = "<|im_start|>system";
  for (size_t at = tpl.find(head); at != std::string::npos; at = tpl.find(head, at + 1)) {
    size_t pos = at + head.size();
    if (tpl.compare(pos, 1, "\n") == 0) {
      pos += 1;
    } else if (tpl.compare(pos, 2, "\\n") == 0) {
      pos += 2;
    } else {
      continue;
    }
    size_t end = tpl.find("<|im_end|>", pos);
    if (end == std::string::npos) continue;
    std::string literal = tpl.substr(pos, end - pos);
    if (literal.empty() || literal.find_first_of("'\"{}") != std::string::npos) continue;
    std::string text;  // undo Jinja string escapes
    for (size_t i = 0; i < literal.size(); ++i) {
      if (literal[i] == '\\' && i + 1 < literal.size() && literal[i + 1] == 'n') {
        text += '\n';
        ++i;
      } else {
        text += literal[i];
      }
    }
    return text;
  }
  return {};
}

[[noreturn]] void alternation_error() {
  throw Error("chat template: conversation roles must alternate user/assistant/user/...");
}

}  // namespace

ChatTemplate::ChatTemplate(Family family, const Vocab& vocab)
    : family_(family), bos_(token_text(vocab, vocab.bos)), eos_(token_text(vocab, vocab.eos)) {
  if (family == Family::ChatML) default_system_ = chatml_default_system(vocab.chat_template);
  llama31_dates_ = vocab.chat_template.find("Cutting Knowledge Date") != std::string::npos;
}

std::string ChatTemplate::known_names() {
  std::string names;
  for (const auto& f : kFamilies) names += (names.empty() ? "" : ", ") + std::string(f.name);
  return names;
}

std::string_view ChatTemplate::name() const {
  for (const auto& f : kFamilies) {
    if (f.family == family_) return f.name;
  }
  return "?";
}

ChatTemplate ChatTemplate::named(std::string_view name, const Vocab& vocab) {
  for (const auto& f : kFamilies) {
    if (f.name == name) return ChatTemplate(f.family, vocab);
  }
  throw Error("unknown chat template '" + std::string(name) + "' (known: " + known_names() + ")");
}

ChatTemplate ChatTemplate::choose(std::string_view name, const Vocab& vocab) {
  return name.empty() ? detect(vocab) : named(name, vocab);
}

ChatTemplate ChatTemplate::detect(const Vocab& vocab) {
  const std::string& t = vocab.chat_template;
  if (t.empty()) {
    if (!vocab.default_chat_template.empty()) return named(vocab.default_chat_template, vocab);
    throw Error("the model has no chat template; choose one with --chat-template (" +
                known_names() + ")");
  }
  if (t.find("<|im_start|>") != std::string::npos) {
    return ChatTemplate(t.find("<think>") != std::string::npos ? Family::Qwen3 : Family::ChatML,
                        vocab);
  }
  if (t.find("<start_of_turn>") != std::string::npos) return ChatTemplate(Family::Gemma, vocab);
  if (t.find("<|start_header_id|>") != std::string::npos)
    return ChatTemplate(Family::Llama3, vocab);
  if (t.find("[INST]") != std::string::npos) {
    if (t.find("<<SYS>>") != std::string::npos) return ChatTemplate(Family::Llama2, vocab);
    const bool v3 =
        t.find("\"[INST]\" +") != std::string::npos || t.find("'[INST]' +") != std::string::npos;
    return ChatTemplate(v3 ? Family::MistralV3 : Family::Mistral, vocab);
  }
  if (t.find("<|user|>") != std::string::npos && t.find("<|end|>") != std::string::npos)
    return ChatTemplate(Family::Phi3, vocab);
  throw Error(
      "the model's chat template is not one longctx recognises; choose one with "
      "--chat-template (" +
      known_names() + ")");
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages,
                                 bool add_generation_prompt) const {
  std::string out;
  bool has_system = !messages.empty() && messages[0].role == "system";
  std::span<const ChatMessage> turns = has_system ? messages.subspan(1) : messages;
  switch (family_) {
    case Family::ChatML:
      if (!has_system && !default_system_.empty()) {
        out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
      }
      for (const ChatMessage& m : messages) {
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      }
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    case Family::Gemma: {
      out += bos_;
      std::string prefix = has_system ? messages[0].content + "\n\n" : "";
      for (size_t i = 0; i < turns.size(); ++i) {
        if ((turns[i].role == "user") != (i % 2 == 0)) alternation_error();
        std::string role = turns[i].role == "assistant" ? "model" : turns[i].role;
        out += "<start_of_turn>" + role + "\n" + (i == 0 ? prefix : "") + trim(turns[i].content) +
               "<end_of_turn>\n";
      }
      if (add_generation_prompt) out += "<start_of_turn>model\n";
      break;
    }
    case Family::Llama3:
      out += bos_;
      if (llama31_dates_) {
        out +=
            "<|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            (has_system ? trim(messages[0].content) : "") + "<|eot_id|>";
        messages = turns;
      }
      for (const ChatMessage& m : messages) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) +
               "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case Family::Llama2:
      for (size_t i = 0; i < turns.size(); ++i) {
        if ((turns[i].role == "user") != (i % 2 == 0)) alternation_error();
        std::string content = turns[i].content;
        if (i == 0 && has_system) {
          content = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + content;
        }
        if (turns[i].role == "user") {
          out += bos_ + "[INST] " + trim(content) + " [/INST]";
        } else {
          out += " " + trim(content) + " " + eos_;
        }
      }
      break;
    case Family::Mistral:
      out += bos_;
      for (size_t i = 0; i < turns.size(); ++i) {
        if ((turns[i].role == "user") != (i % 2 == 0)) alternation_error();
        std::string content = turns[i].content;
        if (i == 0 && has_system) content = messages[0].content + "\n\n" + content;
        if (turns[i].role == "user") {
          out += "[INST] " + content + " [/INST]";
        } else {
          out += content + eos_;
        }
      }
      break;
    case Family::MistralV3:
      out += bos_;
      for (size_t i = 0; i < turns.size(); ++i) {
        if ((turns[i].role == "user") != (i % 2 == 0)) alternation_error();
        if (turns[i].role == "user") {
          const bool last = i + 1 == turns.size();
          out += "[INST]" + (last && has_system ? messages[0].content + "\n\n" : "") +
                 turns[i].content + "[/INST]";
        } else {
          out += turns[i].content + eos_;
        }
      }
      break;
    case Family::Phi3:
      for (const ChatMessage& m : messages) {
        if (m.role == "system" && m.content.empty()) continue;
        if (m.role == "system" || m.role == "user" || m.role == "assistant")
          out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
      }
      out += add_generation_prompt ? "<|assistant|>\n" : eos_;
      break;
    case Family::Qwen3: {
      if (has_system) out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
      size_t last_query = messages.size() - 1;  // the last user message, where one exists
      for (size_t i = messages.size(); i-- > 0;) {
        if (messages[i].role == "user") {
          last_query = i;
          break;
        }
      }
      for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == "user" || (m.role == "system" && i > 0)) {
          out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
        } else if (m.role == "assistant") {
          std::string_view reasoning, answer;
          split_thinking(m.content, reasoning, answer);
          out += "<|im_start|>assistant\n";
          if (i > last_query && (i + 1 == messages.size() || !reasoning.empty())) {
            out += "<think>\n" + std::string(lstrip_nl(rstrip_nl(reasoning))) + "\n</think>\n\n" +
                   std::string(lstrip_nl(answer));
          } else {
            out += answer;
          }
          out += "<|im_end|>\n";
        }
      }
      if (add_generation_prompt) {
        out += "<|im_start|>assistant\n";
        if (!thinking_) out += "<think>\n\n</think>\n\n";
      }
      break;
    }
  }
  return out;
}

}  // namespace longctx::tokenizer
