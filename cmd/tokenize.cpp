// `longctx tokenize -m MODEL [--ids|--pieces|--count] (TEXT | -f FILE)`.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "cmd/commands.h"
#include "cmd/model_path.h"
#include "cmd/tokenize.h"
#include "models/gguf.h"
#include "models/gguf_vocab.h"
#include "models/model.h"
#include "support/error.h"
#include "support/text_file.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace longctx::cmd {
namespace {

// A piece made printable: control characters escaped, as llama.cpp's tokenize tool does.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else
      out += char(c);
  }
  return out;
}

}  // namespace

int tokenize_text(TokenizeOptions o, std::FILE* out, std::FILE* err) {
  if (o.text.empty() && o.file.empty()) throw Error("tokenize: give TEXT or -f FILE");
  std::string text = o.file.empty() ? o.text : read_text_file(o.file);
  const std::string path = resolve_model(o.model);
  // A GGUF file: its vocabulary alone. A Hugging Face folder: the vocabulary needs config.json
  // (vocab size, architecture), so the folder is opened as a model (its weights are only mapped).
  auto tok = std::filesystem::is_directory(path)
                 ? tokenizer::Tokenizer::create(load_model(path)->vocab)
                 : tokenizer::Tokenizer::create(read_vocab(gguf::File::open(path)));
  bool add_special = !o.no_bos;
  if (o.chat || !o.chat_template.empty()) {
    auto tpl = tokenizer::ChatTemplate::choose(o.chat_template, tok->vocab());
    std::vector<tokenizer::ChatMessage> turn = {{"user", text}};
    text = tpl.render(turn, true);
    add_special = false;  // the template writes BOS itself where the model wants it
  }
  auto start = std::chrono::steady_clock::now();
  auto tokens = tok->encode(text, add_special, !o.no_special);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (o.count) {
    std::fprintf(out, "%zu\n", tokens.size());
    std::fprintf(err, "encoded %zu bytes into %zu tokens in %.1f ms (%.0f tokens/s)\n", text.size(),
                 tokens.size(), ms, ms > 0 ? tokens.size() / ms * 1000 : 0.0);
  } else if (o.ids) {
    std::fprintf(out, "[");
    for (size_t i = 0; i < tokens.size(); ++i) std::fprintf(out, i ? ", %d" : "%d", tokens[i]);
    std::fprintf(out, "]\n");
  } else {
    for (auto t : tokens) {
      std::string piece = printable(tok->token_to_piece(t));
      if (o.pieces)
        std::fprintf(out, "%s\n", piece.c_str());
      else
        std::fprintf(out, "%6d -> '%s'\n", t, piece.c_str());
    }
  }
  return 0;
}

Action add_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  app.add_option("-m,--model", o->model,
                 "GGUF file or Hugging Face folder (default: the cached SmolLM2-135M-Instruct)");
  app.add_option("text", o->text, "text to tokenize");
  app.add_option("-f,--file", o->file, "read the text from a file")->excludes("text");
  auto* ids = app.add_flag("--ids", o->ids, "print only the ids, as a list");
  app.add_flag("--pieces", o->pieces, "print only the pieces")->excludes(ids);
  app.add_flag("--count", o->count, "print only the number of tokens")->excludes(ids);
  app.add_flag("--chat", o->chat, "wrap the text as one user turn in the chat template");
  app.add_option(
      "--chat-template", o->chat_template,
      "template family instead of the model's: " + tokenizer::ChatTemplate::known_names());
  app.add_flag("--no-bos", o->no_bos, "do not add BOS/EOS even if the vocabulary asks");
  app.add_flag("--no-parse-special", o->no_special,
               "treat special-token text like <|im_start|> as plain text");
  return [o] { return tokenize_text(*o, stdout, stderr); };
}

}  // namespace longctx::cmd
