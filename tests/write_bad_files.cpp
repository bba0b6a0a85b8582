// Writes the damaged model files that the CLI tests feed to `longctx info` (into argv[1]).
#include <cstdio>
#include <fstream>
#include <string>

#include <filesystem>

#include "tests/gguf_builder.h"
#include "tests/safetensors_builder.h"

namespace {
void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 1;
  std::string dir = argv[1];
  auto good = longctx::test::rich_gguf();
  write(dir + "/good.gguf", good);
  write(dir + "/truncated.gguf", std::vector<uint8_t>(good.begin(), good.begin() + 700));
  auto bad_magic = good;
  bad_magic[0] = 'g';
  write(dir + "/bad_magic.gguf", bad_magic);
  write(dir + "/empty.gguf", {});
  longctx::test::GgufBuilder phi;
  phi.kv_string("general.architecture", "phi3");
  write(dir + "/unknown_arch.gguf", phi.build());
  // Hugging Face folders: one without config.json, one whose weights are cut short.
  std::filesystem::create_directories(dir + "/hf_no_config");
  std::filesystem::create_directories(dir + "/hf_truncated");
  const std::string config =
      R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
          "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 4})";
  write(dir + "/hf_truncated/config.json", std::vector<uint8_t>(config.begin(), config.end()));
  auto st = longctx::test::sample_safetensors();
  st.resize(st.size() - 5);
  write(dir + "/hf_truncated/model.safetensors", st);
  // Weights whose shapes disagree with config.json.
  std::filesystem::create_directories(dir + "/hf_shape");
  write(dir + "/hf_shape/config.json", std::vector<uint8_t>(config.begin(), config.end()));
  write(dir + "/hf_shape/model.safetensors", longctx::test::sample_safetensors());
  const std::string tok = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
                              "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}})";
  write(dir + "/hf_shape/tokenizer.json", std::vector<uint8_t>(tok.begin(), tok.end()));
  const std::string phi_config = R"({"architectures": ["Phi3ForCausalLM"], "hidden_size": 8})";
  std::filesystem::create_directories(dir + "/hf_unknown_arch");
  write(dir + "/hf_unknown_arch/config.json",
        std::vector<uint8_t>(phi_config.begin(), phi_config.end()));
  return 0;
}
