// `longctx info MODEL [--json]`: what a model file holds, as llama.cpp users expect to read it.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cmd/commands.h"
#include "cmd/info.h"
#include "cmd/model_path.h"
#include "models/config.h"
#include "models/gguf.h"
#include "models/gguf_config.h"
#include "models/model.h"
#include "models/model_files.h"

namespace longctx::cmd {
namespace {

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

struct TensorRow {
  std::string name, type;
  std::vector<int64_t> shape;
  int64_t bytes = 0, elems = 0;
};

struct Described {
  std::string path, format;
  uint64_t bytes = 0;
  ModelConfig config;
  TokenizerSummary tokenizer;
  std::function<std::optional<std::string>(int64_t)> token_text;
  std::vector<TensorRow> tensors;
};

Described from_gguf(const gguf::File& f) {
  Described d{
      f.source(),
      "GGUF v" + std::to_string(f.version()) + ", alignment " + std::to_string(f.alignment()),
      f.file_size(),
      read_config(f),
      read_tokenizer_summary(f),
      {},
      {}};
  d.token_text = [&f](int64_t id) -> std::optional<std::string> {
    const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
    if (tokens && tokens->type == gguf::ValueType::ARRAY &&
        tokens->elem_type == gguf::ValueType::STRING && id >= 0 && id < int64_t(tokens->count)) {
      return std::string(tokens->strings[size_t(id)]);
    }
    return std::nullopt;
  };
  for (const gguf::TensorInfo& t : f.tensors()) {
    d.tensors.push_back({t.name, std::string(t.type.name), t.shape, t.n_bytes, t.n_elems});
  }
  read_rope_tensors(f, d.config);  // as the loader completes it, with the same checks
  return d;
}

Described from_folder(const Model& m) {
  uint64_t bytes = 0;
  Described d;
  for (const auto& shard : m.files->shards) {
    for (const auto& t : shard.tensors()) {
      std::string type = t.dtype == kernels::BlockType::F32   ? "F32"
                         : t.dtype == kernels::BlockType::F16 ? "F16"
                                                              : "BF16";
      d.tensors.push_back({t.name, type, t.shape, int64_t(t.end - t.begin), t.n_elems});
      bytes += t.end - t.begin;
    }
  }
  d.path = m.path;
  d.format =
      "Hugging Face folder, " + std::to_string(m.files->shards.size()) + " safetensors file(s)";
  d.bytes = bytes;
  d.config = m.config;
  d.tokenizer = tokenizer_summary(m.vocab);
  const tokenizer::Vocab* vocab = &m.vocab;
  d.token_text = [vocab](int64_t id) -> std::optional<std::string> {
    if (id < 0 || id >= int64_t(vocab->tokens.size())) return std::nullopt;
    return vocab->tokens[size_t(id)];
  };
  return d;
}

nlohmann::ordered_json describe(const Described& d) {
  const ModelConfig& c = d.config;
  const TokenizerSummary& tok = d.tokenizer;
  auto token_json = [&d](std::optional<int64_t> id) -> nlohmann::ordered_json {
    if (!id) return nullptr;
    nlohmann::ordered_json t = {{"id", *id}};
    if (auto text = d.token_text(*id)) t["text"] = *text;
    return t;
  };
  nlohmann::ordered_json j;
  j["file"] = {{"path", d.path}, {"bytes", d.bytes}, {"format", d.format}};
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
  j["attention_softcap"] = c.attn_softcap > 0 ? nlohmann::ordered_json(c.attn_softcap) : nullptr;
  j["final_softcap"] = c.final_softcap > 0 ? nlohmann::ordered_json(c.final_softcap) : nullptr;
  j["rope"] = {{"type", c.rope_type == RopeType::Neox ? "neox" : "norm"},
               {"base", c.rope_base},
               {"dimensions", c.n_rot},
               {"scaling", rope_scaling_name(c.rope_scaling.type)},
               {"scaling_factor", c.rope_scaling.factor},
               {"original_context", c.rope_scaling.original_context}};
  // Each scaling's own parameters (the text form prints the numbers among them).
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == RopeScalingType::Llama3 && !rs.freq_factors.empty()) {
    j["rope"]["freq_factors"] = rs.freq_factors;
  } else if (rs.type == RopeScalingType::Llama3) {
    j["rope"]["low_freq_factor"] = rs.low_freq_factor;
    j["rope"]["high_freq_factor"] = rs.high_freq_factor;
  } else if (rs.type == RopeScalingType::Yarn) {
    j["rope"]["beta_fast"] = rs.beta_fast;
    j["rope"]["beta_slow"] = rs.beta_slow;
    j["rope"]["attention_factor"] = rs.attention_factor;
  } else if (rs.type == RopeScalingType::LongRope) {
    j["rope"]["attention_factor"] = rs.attention_factor;
    j["rope"]["short_factors"] = rs.short_factors;
    j["rope"]["long_factors"] = rs.long_factors;
  }
  nlohmann::ordered_json swa = nullptr;
  if (c.sliding_window > 0) {
    std::vector<int64_t> local, global;
    for (int64_t il = 0; il < c.n_layer; ++il)
      (c.layer_is_local[size_t(il)] ? local : global).push_back(il);
    // The scaling local layers take (the architecture's LocalRope rule).
    const RopeScaling& ls = local.empty() ? c.rope_scaling : c.layer_scaling(local[0]);
    swa = {{"window", c.sliding_window},
           {"local_layers", local},
           {"global_layers", global},
           {"local_rope_base", c.rope_base_local},
           {"local_rope_scaling", rope_scaling_name(ls.type)},
           {"local_rope_scaling_factor", ls.factor}};
  }
  j["sliding_window"] = swa;
  // Layers without rotary embedding (SmolLM3's NoPE layers): empty where every layer rotates.
  std::vector<int64_t> nope;
  for (int64_t il = 0; il < c.n_layer; ++il)
    if (!c.rotates(il)) nope.push_back(il);
  j["nope_layers"] = nope;
  j["experts"] = nullptr;
  if (c.routed()) {
    // Every expert is resident (mapped or uploaded); a token reads `used` of each layer's.
    int64_t expert_bytes = 0, all_bytes = 0;
    for (const TensorRow& t : d.tensors) {
      all_bytes += t.bytes;
      if (t.name.find("_exps.") != std::string::npos ||
          t.name.find(".experts.") != std::string::npos)
        expert_bytes += t.bytes;
    }
    const ExpertFfn& e = c.experts;
    j["experts"] = {
        {"count", e.count},
        {"used", e.used},
        {"feed_forward_length", e.n_ff},
        {"renormalize", e.renormalize},
        {"expert_bytes", expert_bytes},
        {"bytes_per_token", all_bytes - expert_bytes + expert_bytes * e.used / e.count}};
  }
  j["tokenizer"] = {
      {"model", tok.model},
      {"pre", tok.pre},
      {"vocab_size", tok.vocab_size},
      {"merges", tok.n_merges},
      {"control_tokens", tok.n_control_tokens},
      {"bos", token_json(tok.bos)},
      {"eos", token_json(tok.eos)},
      {"eot", token_json(tok.eot)},
      {"unk", token_json(tok.unk)},
      {"pad", token_json(tok.pad)},
      {"add_bos", tok.add_bos ? nlohmann::ordered_json(*tok.add_bos) : nullptr},
      {"add_eos", tok.add_eos ? nlohmann::ordered_json(*tok.add_eos) : nullptr},
      {"add_space_prefix",
       tok.add_space_prefix ? nlohmann::ordered_json(*tok.add_space_prefix) : nullptr},
      {"chat_template", tok.has_chat_template}};
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  int64_t total_bytes = 0, total_params = 0;
  std::map<std::string, int> type_counts;
  for (const TensorRow& t : d.tensors) {
    tensors.push_back({{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"bytes", t.bytes}});
    total_bytes += t.bytes;
    total_params += t.elems;
    type_counts[t.type]++;
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

void print_human(const nlohmann::ordered_json& j, std::FILE* out) {
  auto line = [out](const char* label, const std::string& value) {
    std::fprintf(out, "%-15s %s\n", label, value.c_str());
  };
  const auto& file = j["file"];
  line("file:", file["path"].get<std::string>() + " (" + human_bytes(file["bytes"].get<double>()) +
                    ", " + file["format"].get<std::string>() + ")");
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
  std::string params;  // the scaling's own numbers; factor lists are named, not printed
  for (const auto& [key, value] : rope.items()) {
    if (value.is_number_float() && key != "base" && key != "scaling_factor") {
      char number[32];
      std::snprintf(number, sizeof number, " %g", value.get<double>());
      params += ", " + key + number;
    } else if (value.is_array()) {
      params += ", " + key + " [" + std::to_string(value.size()) + "]";
    }
  }
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s, base %g, %lld rotated dims, scaling %s (factor %g, original context %lld%s)",
                rope["type"].get<std::string>().c_str(), rope["base"].get<double>(),
                (long long)rope["dimensions"].get<int64_t>(),
                rope["scaling"].get<std::string>().c_str(), rope["scaling_factor"].get<double>(),
                (long long)rope["original_context"].get<int64_t>(), params.c_str());
  line("rope:", buf);
  std::snprintf(buf, sizeof buf, "q.k scale %g, rms eps %g", j["attention_scale"].get<double>(),
                j["rms_eps"].get<double>());
  line("attention:", buf);
  if (!j["attention_softcap"].is_null() || !j["final_softcap"].is_null()) {
    auto cap = [](const nlohmann::ordered_json& v) {
      char text[32] = "none";
      if (!v.is_null()) std::snprintf(text, sizeof text, "%g", v.get<double>());
      return std::string(text);
    };
    line("soft-caps:",
         "attention " + cap(j["attention_softcap"]) + ", final logits " + cap(j["final_softcap"]));
  }
  if (!j["nope_layers"].empty()) {
    std::vector<bool> nope(size_t(j["layers"].get<int64_t>()), false);
    for (int64_t il : j["nope_layers"]) nope[size_t(il)] = true;
    line("no rope (NoPE):", layer_ranges(nope, true) + " (" +
                                std::to_string(j["nope_layers"].size()) + " of " +
                                std::to_string(nope.size()) + " layers)");
  }
  if (const auto& e = j["experts"]; !e.is_null()) {
    std::snprintf(buf, sizeof buf, "%lld per layer, %lld used per token (weights %s), %lld wide",
                  (long long)e["count"].get<int64_t>(), (long long)e["used"].get<int64_t>(),
                  e["renormalize"].get<bool>() ? "renormalised" : "as the softmax gives them",
                  (long long)e["feed_forward_length"].get<int64_t>());
    line("experts:", buf);
    line("  memory:", "all experts resident: " + human_bytes(e["expert_bytes"].get<double>()) +
                          "; a token reads " + human_bytes(e["bytes_per_token"].get<double>()) +
                          " of the weights at most (its experts, every other tensor whole)");
  }
  if (j["sliding_window"].is_null()) {
    line("sliding window:", "none (full attention in every layer)");
  } else {
    const auto& swa = j["sliding_window"];
    std::vector<bool> local(size_t(j["layers"].get<int64_t>()), false);
    for (int64_t il : swa["local_layers"]) local[size_t(il)] = true;
    std::snprintf(
        buf, sizeof buf, "%lld tokens in %zu of %zu layers (local rope base %g, scaling %s x%g)",
        (long long)swa["window"].get<int64_t>(), swa["local_layers"].size(), local.size(),
        swa["local_rope_base"].get<double>(), swa["local_rope_scaling"].get<std::string>().c_str(),
        swa["local_rope_scaling_factor"].get<double>());
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
    return v.is_null() ? std::string("-")
                       : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
  std::fprintf(out, "\n  %-48s %-6s %-20s %12s\n", "name", "type", "shape", "bytes");
  for (const auto& t : j["tensors"]) {
    std::fprintf(out, "  %-48s %-6s %-20s %12lld\n", t["name"].get<std::string>().c_str(),
                 t["type"].get<std::string>().c_str(), shape_text(t["shape"]).c_str(),
                 (long long)t["bytes"].get<int64_t>());
  }
}

}  // namespace

int info(InfoOptions o, std::FILE* out) {
  std::string path = resolve_model(o.model);
  nlohmann::ordered_json j;
  if (std::filesystem::is_directory(path)) {
    auto model = load_hf_model(path);
    j = describe(from_folder(*model));
  } else {
    gguf::File file = gguf::File::open(path);
    j = describe(from_gguf(file));
  }
  if (o.json) {
    std::fprintf(out, "%s\n",
                 j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    print_human(j, out);
  }
  return 0;
}

Action add_info(CLI::App& app) {
  auto opts = std::make_shared<InfoOptions>();
  app.add_option("file", opts->model,
                 "GGUF file or Hugging Face folder (default: the cached SmolLM2-135M-Instruct)");
  app.add_option("-m,--model", opts->model,
                 "GGUF file or Hugging Face folder (same as the positional argument)");
  app.add_flag("--json", opts->json, "print JSON instead of text");
  return [opts] { return info(*opts, stdout); };
}

}  // namespace longctx::cmd
