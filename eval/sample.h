// One evaluation sample — the exact tokens the model reads, what it may generate, and how the
// answer is scored — and the prompt format that turns a task's text into those tokens.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace longctx::eval {

struct EvalSample {
  std::string benchmark;  // ruler, longbench, niah, passkey
  std::string task;       // niah_single_1, hotpotqa, ...
  int64_t length = 0;     // the target length in tokens (prompt + generation); LongBench: 0
  int64_t index = 0;
  std::vector<int32_t> tokens;  // the model's input, chat template and answer prefix included
  int64_t max_new_tokens = 0;
  bool stop_at_newline = false;  // LongBench samsum
  std::string metric;
  std::vector<std::string> answers;
  // Teacher forcing's lead: what the answer follows in a natural reply ("The pass key is"),
  // forced but not scored (eval/likelihood.h); empty: the answer follows the prompt directly.
  std::string reference_lead;
  // The scored answer written out, where `answers` are fragments of it (the needle's); empty:
  // derived from `answers`.
  std::string reference;
  std::vector<std::string> all_classes;
  bool first_line = false;
  nlohmann::json extra = nlohmann::json::object();  // depth, category, truncation, ...
  // A second turn built from the first answer (LongBench v2's chain of thought: the reasoning
  // goes into this text at "$COT$" and the model answers again); empty for one-turn tasks.
  std::string followup;
  int64_t followup_max_new_tokens = 0;
  int64_t followup_max_input_tokens = 0;  // its middle-truncation budget

  // "ruler/niah_single_1/4096/3": the key predictions are stored and resumed by.
  std::string id() const;
};

// How a task's text becomes tokens: wrapped as one user turn of the model's chat template with
// the answer prefix after the generation prompt (RULER's assistant prefill), or plain text after
// BOS when there is no template (`--chat-template none`).
class PromptFormat {
 public:
  PromptFormat(const tokenizer::Tokenizer& tok, std::optional<tokenizer::ChatTemplate> chat)
      : tok_(tok), chat_(std::move(chat)) {}

  // `system`, when given, is a system turn (or a first paragraph without a template).
  std::vector<int32_t> encode(std::string_view user, std::string_view answer_prefix = "",
                              bool use_chat = true, std::string_view system = "") const;
  // The text encode() tokenizes before the answer prefix: the rendered template (its BOS and
  // control tokens written as text) or the plain text, which encode() gives a BOS of its own.
  std::string text(std::string_view user, bool use_chat = true, std::string_view system = "") const;
  // Text prepared elsewhere (RULER's prepare.py), tokenized as its pipeline does: control tokens
  // written in it are matched, and BOS comes first once (the vocabulary's rule) unless it is
  // already there. encode_prepared(text(u) + prefix) == encode(u, prefix) for the task texts.
  std::vector<int32_t> encode_prepared(std::string_view text) const;
  const tokenizer::Tokenizer& tokenizer() const { return tok_; }
  bool has_chat() const { return chat_.has_value(); }
  std::string name() const { return chat_ ? std::string(chat_->name()) : "none"; }

 private:
  const tokenizer::Tokenizer& tok_;
  std::optional<tokenizer::ChatTemplate> chat_;
};

}  // namespace longctx::eval
