// Writes the damaged model files that the CLI tests feed to `longctx info` (into argv[1]).
#include <cstdio>
#include <fstream>
#include <string>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "tests/gguf_builder.h"
#include "tests/hf_folder_builder.h"
#include "tests/safetensors_builder.h"

namespace {
void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
}

// `bytes` with the first occurrence of `from` replaced by `to` (same length).
std::vector<uint8_t> patched(std::vector<uint8_t> bytes, const std::string& from,
                             const std::string& to) {
  auto at = std::search(bytes.begin(), bytes.end(), from.begin(), from.end());
  if (at == bytes.end() || from.size() != to.size()) std::abort();
  std::copy(to.begin(), to.end(), at);
  return bytes;
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
  // A name that is not UTF-8 (info --json must still print), and a layer count far beyond the
  // tensors (refused before anything is sized by it).
  write(dir + "/bad_utf8.gguf", patched(good, "tiny test model", "tiny \xff\xfest model"));
  const std::string count_key = "llama.block_count";
  std::string old_count = count_key + std::string("\x05\0\0\0\x02\0\0\0", 8);  // INT32 2
  std::string new_count = count_key + std::string("\x05\0\0\0\xff\xff\xff\x7f", 8);
  write(dir + "/huge_layers.gguf", patched(good, old_count, new_count));
  // Things that are not regular files, where files are expected.
  std::filesystem::remove(dir + "/fifo");
  if (::mkfifo((dir + "/fifo").c_str(), 0600) != 0) return 1;
  std::filesystem::create_directories(dir + "/a_directory");
  // An eval output folder whose predictions file is a FIFO (eval score/merge must not block).
  std::filesystem::create_directories(dir + "/fifo_eval");
  std::filesystem::remove(dir + "/fifo_eval/predictions.jsonl");
  if (::mkfifo((dir + "/fifo_eval/predictions.jsonl").c_str(), 0600) != 0) return 1;
  // One whose last line is complete (it ends in a new line) but is not a prediction.
  std::filesystem::create_directories(dir + "/bad_last_line_eval");
  std::ofstream(dir + "/bad_last_line_eval/predictions.jsonl") << "{\"id\": 1}\n";
  // A valid Hugging Face folder made from scratch (tokenize -m FOLDER).
  longctx::test::HfFolder().write(dir + "/hf_valid");
  longctx::test::GgufBuilder phi;
  phi.kv_string("general.architecture", "mamba");
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
  const std::string unknown_config = R"({"architectures": ["MambaForCausalLM"], "hidden_size": 8})";
  std::filesystem::create_directories(dir + "/hf_unknown_arch");
  write(dir + "/hf_unknown_arch/config.json",
        std::vector<uint8_t>(unknown_config.begin(), unknown_config.end()));
  return 0;
}
