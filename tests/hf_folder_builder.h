// A minimal, valid Hugging Face llama folder written from scratch (one layer, 16 tokens), for the
// bad-input tests and the JSON fuzz corpus: each JSON file is kept as a json value so a test can
// damage one field and write the folder again.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/safetensors_builder.h"

namespace longctx::test {

struct HfFolder {
  nlohmann::json config, tokenizer, tokenizer_config, generation_config;
  std::vector<uint8_t> weights;

  static constexpr int64_t kEmbd = 8, kHeads = 2, kHeadDim = 4, kFf = 16, kVocab = 16;

  // `extra`: more tensors of kEmbd floats, beyond what a llama layer has. `experts` > 0: a
  // Mixtral folder, the FFN that many routed experts (2 per token) of kFf.
  explicit HfFolder(const std::vector<std::string>& extra = {}, int64_t experts = 0) {
    config = {{"architectures", {"LlamaForCausalLM"}},
              {"hidden_size", kEmbd},
              {"num_hidden_layers", 1},
              {"num_attention_heads", kHeads},
              {"num_key_value_heads", kHeads},
              {"intermediate_size", kFf},
              {"vocab_size", kVocab},
              {"max_position_embeddings", 64},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 10000.0},
              {"tie_word_embeddings", true}};
    // Byte-level BPE over a few letters: "a", "b", ... and the merges that join them.
    nlohmann::json vocab = nlohmann::json::object();
    const char* pieces[] = {"a", "b", "c", "d", "e", "Ġ", "ab", "cd", "Ġa", "abcd"};
    for (int i = 0; i < 10; ++i) vocab[pieces[i]] = i;
    tokenizer = {
        {"version", "1.0"},
        {"added_tokens",
         {{{"id", 10}, {"content", "<s>"}, {"special", true}},
          {{"id", 11}, {"content", "</s>"}, {"special", true}}}},
        {"pre_tokenizer", {{"type", "ByteLevel"}, {"use_regex", true}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "c d", "Ġ a", "ab cd"}}}}};
    tokenizer_config = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_bos_token", true}};
    generation_config = {{"eos_token_id", 11}};
    std::vector<StTensor> t;
    auto add = [&](const std::string& name, std::vector<int64_t> shape) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      std::vector<uint8_t> data(size_t(n) * 4);
      for (int64_t i = 0; i < n; ++i) {
        float x = 0.01f * float((i * 37 + int64_t(name.size())) % 23 - 11);
        std::memcpy(&data[size_t(i) * 4], &x, 4);
      }
      t.push_back({name, "F32", shape, data});
    };
    const int64_t q = kHeads * kHeadDim;
    add("model.embed_tokens.weight", {kVocab, kEmbd});
    add("model.norm.weight", {kEmbd});
    const std::string p = "model.layers.0.";
    add(p + "input_layernorm.weight", {kEmbd});
    add(p + "self_attn.q_proj.weight", {q, kEmbd});
    add(p + "self_attn.k_proj.weight", {q, kEmbd});
    add(p + "self_attn.v_proj.weight", {q, kEmbd});
    add(p + "self_attn.o_proj.weight", {kEmbd, q});
    add(p + "post_attention_layernorm.weight", {kEmbd});
    if (experts > 0) {
      config["architectures"] = {"MixtralForCausalLM"};
      config["num_local_experts"] = experts;
      config["num_experts_per_tok"] = 2;
      add(p + "block_sparse_moe.gate.weight", {experts, kEmbd});
      for (int64_t e = 0; e < experts; ++e) {
        const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
        add(x + "w1.weight", {kFf, kEmbd});
        add(x + "w3.weight", {kFf, kEmbd});
        add(x + "w2.weight", {kEmbd, kFf});
      }
    } else {
      add(p + "mlp.gate_proj.weight", {kFf, kEmbd});
      add(p + "mlp.up_proj.weight", {kFf, kEmbd});
      add(p + "mlp.down_proj.weight", {kEmbd, kFf});
    }
    for (const std::string& name : extra) add(name, {kEmbd});
    weights = build_safetensors(t, {{"format", "pt"}});
  }

  // Writes the folder (replacing what `dir` held) and returns its path.
  std::string write(const std::filesystem::path& dir) const {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto put = [&](const char* name, const std::string& text) {
      std::ofstream(dir / name, std::ios::binary) << text;
    };
    put("config.json", config.dump());
    put("tokenizer.json", tokenizer.dump());
    put("tokenizer_config.json", tokenizer_config.dump());
    put("generation_config.json", generation_config.dump());
    std::ofstream(dir / "model.safetensors", std::ios::binary)
        .write(reinterpret_cast<const char*>(weights.data()), std::streamsize(weights.size()));
    return dir.string();
  }
};

}  // namespace longctx::test
