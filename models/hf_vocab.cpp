#include "models/hf_vocab.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "support/error.h"
#include "support/json_fields.h"
#include "support/text_file.h"
#include "tokenizer/spm.h"

namespace longctx {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tokenizer::TokenType;

json read_json(const fs::path& path) {
  return read_json_file(path.string());
}

// The pre-tokenizer name (as tokenizer.ggml.pre spells it) that a tokenizer.json describes.
std::string detect_pre(const json& pre, const std::string& source) {
  std::string text = pre.dump();
  bool byte_level = text.find("\"ByteLevel\"") != std::string::npos;
  if (text.find("\"Digits\"") != std::string::npos && byte_level) return "smollm";
  if (text.find("\\\\p{N}{1,3}") != std::string::npos) return "llama-bpe";
  if (text.find("\\\\p{N}| ?") != std::string::npos) return "qwen2";
  if (byte_level && text.find("\"use_regex\":true") != std::string::npos) return "gpt-2";
  throw Error(source + ": pre_tokenizer " + text.substr(0, 200) +
              " is not one longctx knows (smollm, qwen2, llama-bpe, gpt-2)");
}

std::string token_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"];
  return {};
}

// A token id read from `fields`'s `key`: an integer in [0, n_vocab).
int64_t token_id(const JsonFields& fields, const std::string& key, int64_t n_vocab) {
  int64_t id = fields.integer(key);
  if (id < 0 || id >= n_vocab) {
    fields.fail(key, "is " + std::to_string(id) + ", outside the vocabulary of " +
                         std::to_string(n_vocab) + " (config.json's vocab_size)");
  }
  return id;
}

tokenizer::Vocab bpe_from_tokenizer_json(const fs::path& path, int64_t n_vocab) {
  json j = read_json(path);
  const std::string src = path.string();
  JsonFields top(src, j);
  const json* model_json = top.present("model");
  if (!model_json) top.fail("model", "is missing");
  JsonFields model(src + ": model", *model_json);
  if (model.text("type", "") != "BPE") {
    throw Error(src +
                ": model type is not BPE (longctx reads byte-level BPE tokenizer.json files)");
  }
  tokenizer::Vocab v;
  v.kind = tokenizer::VocabKind::Bpe;
  v.pre = detect_pre(j.value("pre_tokenizer", json()), src);
  const json* vocab = model.present("vocab");
  if (!vocab || !vocab->is_object()) throw Error(src + ": model.vocab is not an object");
  JsonFields vocab_ids(src + ": model.vocab", *vocab);
  const json* added_list = top.present("added_tokens");
  if (added_list && !added_list->is_array()) top.fail("added_tokens", "is not a list");
  const json no_added = json::array();
  if (!added_list) added_list = &no_added;
  // Every text would tokenize to nothing (and then be refused as "the prompt is empty").
  if (vocab->empty()) model.fail("vocab", "is empty");
  int64_t max_id = -1;
  for (auto& [tok, id] : vocab->items())
    max_id = std::max(max_id, token_id(vocab_ids, tok, n_vocab));
  struct Added {
    int64_t id;
    std::string content;
    bool special;
  };
  std::vector<Added> added;
  for (size_t i = 0; i < added_list->size(); ++i) {
    JsonFields a(src + ": added_tokens[" + std::to_string(i) + "]", (*added_list)[i]);
    added.push_back(
        {token_id(a, "id", n_vocab), a.text("content", ""), a.boolean("special", false)});
    max_id = std::max(max_id, added.back().id);
  }
  v.tokens.assign(size_t(max_id + 1), std::string());
  v.types.assign(size_t(max_id + 1), TokenType::Unused);
  for (auto& [tok, id] : vocab->items()) {
    v.tokens[size_t(id.get<int64_t>())] = tok;
    v.types[size_t(id.get<int64_t>())] = TokenType::Normal;
  }
  for (const Added& a : added) {
    v.tokens[size_t(a.id)] = a.content;
    v.types[size_t(a.id)] = a.special ? TokenType::Control : TokenType::UserDefined;
  }
  const json* merges = model.present("merges");
  if (merges && !merges->is_array()) model.fail("merges", "is not a list");
  // Without merges a byte-level BPE splits every word into single bytes: never what was meant.
  if (!merges || merges->empty())
    model.fail("merges", "is missing or empty (a BPE tokenizer without merges)");
  for (const auto& m : *merges) {
    if (m.is_string()) {
      v.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      throw Error(src + ": model.merges holds an entry that is neither \"a b\" nor [a, b]");
    }
  }
  return v;
}

int32_t id_of(const tokenizer::Vocab& v, const std::string& text) {
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.tokens[i] == text) return int32_t(i);
  }
  return -1;
}

}  // namespace

tokenizer::Vocab read_hf_vocab(const std::string& folder_name, const ModelConfig& config) {
  fs::path folder(folder_name);
  tokenizer::Vocab v;
  if (fs::exists(folder / "tokenizer.model")) {
    try {
      v = tokenizer::vocab_from_spm_model(read_text_file((folder / "tokenizer.model").string()));
    } catch (const Error& e) {
      throw Error((folder / "tokenizer.model").string() + ": " + e.what());
    }
  } else if (fs::exists(folder / "tokenizer.json")) {
    v = bpe_from_tokenizer_json(folder / "tokenizer.json", config.n_vocab);
  } else {
    throw Error(folder_name + ": no tokenizer.model or tokenizer.json");
  }
  v.default_chat_template = std::string(config.arch->default_chat_template);
  if (fs::exists(folder / "tokenizer_config.json")) {
    json tc_json = read_json(folder / "tokenizer_config.json");
    JsonFields tc((folder / "tokenizer_config.json").string(), tc_json);
    for (auto [key, slot] : {std::pair{"bos_token", &v.bos},
                             {"eos_token", &v.eos},
                             {"unk_token", &v.unk},
                             {"pad_token", &v.pad}}) {
      if (const json* t = tc.present(key)) {
        std::string text = token_string(*t);
        if (text.empty() && !(t->is_string() || t->is_object()))
          tc.fail(key, "is neither a token's text nor an object with its content");
        if (!text.empty() && id_of(v, text) >= 0) *slot = id_of(v, text);
      }
    }
    v.add_bos = tc.boolean("add_bos_token", v.add_bos);
    v.add_eos = tc.boolean("add_eos_token", v.add_eos);
    if (const json* t = tc.present("chat_template")) {
      if (t->is_string()) {
        v.chat_template = *t;
      } else if (t->is_array()) {  // named templates: take "default"
        for (size_t i = 0; i < t->size(); ++i) {
          JsonFields named(tc.where() + ": chat_template[" + std::to_string(i) + "]", (*t)[i]);
          if (named.text("name", "") == "default") v.chat_template = named.text("template", "");
        }
      } else {
        tc.fail("chat_template", "is neither a template nor a list of named templates");
      }
    }
  }
  if (v.chat_template.empty() && fs::exists(folder / "chat_template.jinja")) {
    v.chat_template = read_text_file((folder / "chat_template.jinja").string());
  }
  if (fs::exists(folder / "generation_config.json")) {
    json gc_json = read_json(folder / "generation_config.json");
    JsonFields gc((folder / "generation_config.json").string(), gc_json);
    if (const json* eos = gc.present("eos_token_id")) {
      json ids = eos->is_array() ? *eos : json::array({*eos});
      for (const json& id : ids) {
        const json one = {{"eos_token_id", id}};
        v.extra_end_of_generation.push_back(
            int32_t(token_id(JsonFields(gc.where(), one), "eos_token_id", config.n_vocab)));
      }
    }
  }
  if (int64_t(v.tokens.size()) > config.n_vocab) {
    throw Error(folder_name + ": the tokenizer has " + std::to_string(v.tokens.size()) +
                " tokens but config.json's vocab_size is " + std::to_string(config.n_vocab));
  }
  return v;
}

}  // namespace longctx
