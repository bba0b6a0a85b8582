// `longctx info MODEL [--json]`: what a model file holds, as llama.cpp users expect to read it.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cmd/commands.h"
#include "cmd/model_path.h"
#include "models/config.h"
#include "models/gguf.h"

namespace longctx::cmd {
namespace {

struct InfoOptions {
  std::string model;
  bool json = false;
};

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (int64_t d : shape) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s;
}

// Layer indices as compact ranges: "0-4, 6-10, 12".
std::string layer_ranges(const std::vector<bool>& flags, bool want) {
  std::string out;
  size_t i = 0;
  while (i < flags.size()) {
    if (flags[i] != want) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j + 1 < flags.size() && flags[j + 1] == want) ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(i) + (j > i ? "-" + std::to_string(j) : "");
    i = j + 1;
  }
  return out.empty() ? "none" : out;
}

nlohmann::ordered_json token_json(const gguf::File& f, std::optional<int64_t> id) {
  if (!id) return nullptr;
  nlohmann::ordered_json j = {{"id", *id}};
  if (const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
      tokens && tokens->type == gguf::ValueType::ARRAY &&
      tokens->elem_type == gguf::ValueType::STRING && *id >= 0 && *id < int64_t(tokens->count)) {
    j["text"] = std::string(tokens->strings[size_t(*id)]);
  }
  return j;
}

nlohmann::ordered_json describe(const gguf::File& f) {
  ModelConfig c = read_config(f);
  TokenizerSummary tok = read_tokenizer_summary(f);
  nlohmann::ordered_json j;
  j["file"] = {{"path", f.source()},
               {"bytes", f.file_size()},
               {"gguf_version", f.version()},
               {"alignment", f.alignment()},
               {"metadata_entries", f.metadata().size()}};
  j["name"] = c.name;
  j["architecture"] = std::string(c.arch->name);
  j["context_length"] = c.n_ctx_train;
  j["layers"] = c.n_layer;
  j["heads"] = c.n_head;
  j["kv_heads"] = c.n_head_kv;
  j["head_dim"] = c.head_dim;
  j["value_dim"] = c.value_dim;
  j["embedding_length"] = c.n_embd;
  j["feed_forward_length"] = c.n_ff;
  j["vocab_size"] = c.n_vocab;
  j["rms_eps"] = c.rms_eps;
  j["attention_scale"] = c.attention_scale;
  j["rope"] = {{"type", c.arch->rope_type == RopeType::Neox ? "neox" : "norm"},
               {"base", c.rope_base},
               {"dimensions", c.n_rot},
               {"scaling", c.rope_scaling.type},
               {"scaling_factor", c.rope_scaling.factor},
               {"original_context", c.rope_scaling.original_context}};
  nlohmann::ordered_json swa = nullptr;
  if (c.sliding_window > 0) {
    std::vector<int64_t> local, global;
    for (int64_t il = 0; il < c.n_layer; ++il)
      (c.layer_is_local[size_t(il)] ? local : global).push_back(il);
    swa = {{"window", c.sliding_window},
           {"local_layers", local},
           {"global_layers", global},
           {"local_rope_base", c.rope_base_local}};
  }
  j["sliding_window"] = swa;
  j["tokenizer"] = {
      {"model", tok.model},
      {"pre", tok.pre},
      {"vocab_size", tok.vocab_size},
      {"merges", tok.n_merges},
      {"control_tokens", tok.n_control_tokens},
      {"bos", token_json(f, tok.bos)},
      {"eos", token_json(f, tok.eos)},
      {"eot", token_json(f, tok.eot)},
      {"unk", token_json(f, tok.unk)},
      {"pad", token_json(f, tok.pad)},
      {"add_bos", tok.add_bos ? nlohmann::ordered_json(*tok.add_bos) : nullptr},
      {"add_eos", tok.add_eos ? nlohmann::ordered_json(*tok.add_eos) : nullptr},
      {"add_space_prefix",
       tok.add_space_prefix ? nlohmann::ordered_json(*tok.add_space_prefix) : nullptr},
      {"chat_template", tok.has_chat_template}};
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  int64_t total_bytes = 0, total_params = 0;
  std::map<std::string, int> type_counts;
  for (const gguf::TensorInfo& t : f.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"type", std::string(t.type.name)},
                       {"shape", t.shape},
                       {"bytes", t.n_bytes}});
    total_bytes += t.n_bytes;
    total_params += t.n_elems;
    type_counts[std::string(t.type.name)]++;
  }
  j["tensors"] = tensors;
  j["tensor_types"] = type_counts;
  j["tensor_bytes"] = total_bytes;
  j["parameters"] = total_params;
  return j;
}

std::string token_text(const nlohmann::ordered_json& t) {
  if (t.is_null()) return "-";
  std::string s = std::to_string(t["id"].get<int64_t>());
  if (t.contains("text")) s += " '" + t["text"].get<std::string>() + "'";
  return s;
}

void print_human(const nlohmann::ordered_json& j) {
  auto line = [](const char* label, const std::string& value) {
    std::printf("%-15s %s\n", label, value.c_str());
  };
  const auto& file = j["file"];
  line("file:", file["path"].get<std::string>() + " (" + human_bytes(file["bytes"].get<double>()) +
                    ", GGUF v" + std::to_string(file["gguf_version"].get<int>()) + ", alignment " +
                    std::to_string(file["alignment"].get<int64_t>()) + ")");
  if (!j["name"].get<std::string>().empty()) line("name:", j["name"]);
  line("architecture:", j["architecture"]);
  line("context:", std::to_string(j["context_length"].get<int64_t>()));
  line("layers:", std::to_string(j["layers"].get<int64_t>()));
  line("heads:", std::to_string(j["heads"].get<int64_t>()) + " (KV heads " +
                     std::to_string(j["kv_heads"].get<int64_t>()) + ", head dim " +
                     std::to_string(j["head_dim"].get<int64_t>()) + ", value dim " +
                     std::to_string(j["value_dim"].get<int64_t>()) + ")");
  line("embedding:", std::to_string(j["embedding_length"].get<int64_t>()));
  line("ffn:", std::to_string(j["feed_forward_length"].get<int64_t>()));
  line("vocab:", std::to_string(j["vocab_size"].get<int64_t>()));
  const auto& rope = j["rope"];
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s, base %g, %lld rotated dims, scaling %s (factor %g, original context %lld)",
                rope["type"].get<std::string>().c_str(), rope["base"].get<double>(),
                (long long)rope["dimensions"].get<int64_t>(),
                rope["scaling"].get<std::string>().c_str(), rope["scaling_factor"].get<double>(),
                (long long)rope["original_context"].get<int64_t>());
  line("rope:", buf);
  std::snprintf(buf, sizeof buf, "q.k scale %g, rms eps %g", j["attention_scale"].get<double>(),
                j["rms_eps"].get<double>());
  line("attention:", buf);
  if (j["sliding_window"].is_null()) {
    line("sliding window:", "none (full attention in every layer)");
  } else {
    const auto& swa = j["sliding_window"];
    std::vector<bool> local(size_t(j["layers"].get<int64_t>()), false);
    for (int64_t il : swa["local_layers"]) local[size_t(il)] = true;
    std::snprintf(buf, sizeof buf, "%lld tokens in %zu of %zu layers (local rope base %g)",
                  (long long)swa["window"].get<int64_t>(), swa["local_layers"].size(), local.size(),
                  swa["local_rope_base"].get<double>());
    line("sliding window:", buf);
    line("  local:", layer_ranges(local, true));
    line("  global:", layer_ranges(local, false));
  }
  const auto& tok = j["tokenizer"];
  std::string kind = tok["model"] == "gpt2"    ? " (byte-level BPE)"
                     : tok["model"] == "llama" ? " (SentencePiece)"
                                               : "";
  line("tokenizer:", tok["model"].get<std::string>() + kind + ", pre '" +
                         tok["pre"].get<std::string>() + "', " +
                         std::to_string(tok["vocab_size"].get<int64_t>()) + " tokens, " +
                         std::to_string(tok["merges"].get<int64_t>()) + " merges, " +
                         std::to_string(tok["control_tokens"].get<int64_t>()) + " control");
  auto flag = [](const nlohmann::ordered_json& v) {
    return v.is_null() ? std::string("-") : v.dump();
  };
  line("special:", "bos " + token_text(tok["bos"]) + ", eos " + token_text(tok["eos"]) + ", eot " +
                       token_text(tok["eot"]) + ", unk " + token_text(tok["unk"]) + ", pad " +
                       token_text(tok["pad"]));
  line("", "add_bos " + flag(tok["add_bos"]) + ", add_eos " + flag(tok["add_eos"]) +
               ", add_space_prefix " + flag(tok["add_space_prefix"]));
  line("chat template:", tok["chat_template"].get<bool>() ? "present" : "absent");
  std::string types;
  for (auto& [type, count] : j["tensor_types"].items()) {
    types += (types.empty() ? "" : ", ") + type + " " + std::to_string(count.get<int>());
  }
  std::snprintf(buf, sizeof buf, "%zu (%s), %s, %.2f M parameters", j["tensors"].size(),
                types.c_str(), human_bytes(j["tensor_bytes"].get<double>()).c_str(),
                j["parameters"].get<double>() / 1e6);
  line("tensors:", buf);
  std::printf("\n  %-32s %-6s %-20s %12s\n", "name", "type", "shape", "bytes");
  for (const auto& t : j["tensors"]) {
    std::printf("  %-32s %-6s %-20s %12lld\n", t["name"].get<std::string>().c_str(),
                t["type"].get<std::string>().c_str(), shape_text(t["shape"]).c_str(),
                (long long)t["bytes"].get<int64_t>());
  }
}

}  // namespace

Action add_info(CLI::App& app) {
  auto opts = std::make_shared<InfoOptions>();
  app.add_option("file", opts->model, "GGUF file (default: the cached SmolLM2-135M-Instruct)");
  app.add_option("-m,--model", opts->model, "GGUF file (same as the positional argument)");
  app.add_flag("--json", opts->json, "print JSON instead of text");
  return [opts] {
    gguf::File file = gguf::File::open(resolve_model(opts->model));
    nlohmann::ordered_json j = describe(file);
    if (opts->json) {
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      print_human(j);
    }
    return 0;
  };
}

}  // namespace longctx::cmd
