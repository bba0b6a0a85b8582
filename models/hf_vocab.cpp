#include "models/hf_vocab.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "support/error.h"
#include "tokenizer/spm.h"

namespace longctx {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tokenizer::TokenType;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

json read_json(const fs::path& path) {
  std::string text = read_bytes(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON (" + e.what() + ")");
  }
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

tokenizer::Vocab bpe_from_tokenizer_json(const fs::path& path) {
  json j = read_json(path);
  const std::string src = path.string();
  auto model = j.find("model");
  if (model == j.end() || model->value("type", std::string()) != "BPE") {
    throw Error(src +
                ": model type is not BPE (longctx reads byte-level BPE tokenizer.json files)");
  }
  tokenizer::Vocab v;
  v.kind = tokenizer::VocabKind::Bpe;
  v.pre = detect_pre(j.value("pre_tokenizer", json()), src);
  const json& vocab = (*model)["vocab"];
  if (!vocab.is_object()) throw Error(src + ": model.vocab is not an object");
  int64_t max_id = -1;
  for (auto& [tok, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > 10'000'000) {
      throw Error(src + ": model.vocab id of '" + tok + "' is not a valid id");
    }
    max_id = std::max<int64_t>(max_id, id.get<int64_t>());
  }
  for (const auto& added : j.value("added_tokens", json::array())) {
    max_id = std::max<int64_t>(max_id, added.value("id", int64_t(-1)));
  }
  v.tokens.assign(size_t(max_id + 1), std::string());
  v.types.assign(size_t(max_id + 1), TokenType::Unused);
  for (auto& [tok, id] : vocab.items()) {
    v.tokens[size_t(id.get<int64_t>())] = tok;
    v.types[size_t(id.get<int64_t>())] = TokenType::Normal;
  }
  for (const auto& added : j.value("added_tokens", json::array())) {
    int64_t id = added.value("id", int64_t(-1));
    if (id < 0) continue;
    v.tokens[size_t(id)] = added.value("content", std::string());
    v.types[size_t(id)] =
        added.value("special", false) ? TokenType::Control : TokenType::UserDefined;
  }
  for (const auto& m : (*model).value("merges", json::array())) {
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
      v = tokenizer::vocab_from_spm_model(read_bytes(folder / "tokenizer.model"));
    } catch (const Error& e) {
      throw Error((folder / "tokenizer.model").string() + ": " + e.what());
    }
  } else if (fs::exists(folder / "tokenizer.json")) {
    v = bpe_from_tokenizer_json(folder / "tokenizer.json");
  } else {
    throw Error(folder_name + ": no tokenizer.model or tokenizer.json");
  }
  v.architecture = std::string(config.arch->name);
  if (fs::exists(folder / "tokenizer_config.json")) {
    json tc = read_json(folder / "tokenizer_config.json");
    for (auto [key, slot] : {std::pair{"bos_token", &v.bos},
                             {"eos_token", &v.eos},
                             {"unk_token", &v.unk},
                             {"pad_token", &v.pad}}) {
      if (auto it = tc.find(key); it != tc.end()) {
        std::string text = token_string(*it);
        if (!text.empty() && id_of(v, text) >= 0) *slot = id_of(v, text);
      }
    }
    if (auto it = tc.find("add_bos_token"); it != tc.end() && it->is_boolean()) v.add_bos = *it;
    if (auto it = tc.find("add_eos_token"); it != tc.end() && it->is_boolean()) v.add_eos = *it;
    if (auto it = tc.find("chat_template"); it != tc.end()) {
      if (it->is_string()) {
        v.chat_template = *it;
      } else if (it->is_array()) {  // named templates: take "default"
        for (const auto& t : *it) {
          if (t.value("name", std::string()) == "default")
            v.chat_template = t.value("template", std::string());
        }
      }
    }
  }
  if (v.chat_template.empty() && fs::exists(folder / "chat_template.jinja")) {
    v.chat_template = read_bytes(folder / "chat_template.jinja");
  }
  if (fs::exists(folder / "generation_config.json")) {
    json gc = read_json(folder / "generation_config.json");
    if (auto it = gc.find("eos_token_id"); it != gc.end()) {
      if (it->is_number_integer()) v.extra_end_of_generation.push_back(*it);
      if (it->is_array()) {
        for (const auto& id : *it) {
          if (id.is_number_integer()) v.extra_end_of_generation.push_back(id);
        }
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
