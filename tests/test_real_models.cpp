// The two real models fetched by scripts/setup: what their model cards say, and every tensor
// dequantized by longctx hashing to what the `gguf` package's dequantizer gives
// (tests/fixtures/models, written by scripts/fixtures/make_model_checksums.py).
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/config.h"
#include "models/gguf.h"
#include "models/gguf_config.h"
#include "support/sha256.h"
#include "tests/fixtures.h"

using namespace longctx;

namespace {

gguf::File open_model(const char* file) {
  std::string path = test::model_path(file);
  if (!std::filesystem::exists(path)) {
    FAIL("model " << path << " is missing: run scripts/setup (it fetches the test models)");
  }
  return gguf::File::open(path);
}

void check_tensor_hashes(const gguf::File& f, const char* file) {
  auto bytes = test::read_fixture(std::string("models/") + file + ".tensors.json");
  auto expected = nlohmann::json::parse(bytes.begin(), bytes.end());
  REQUIRE(expected.size() == f.tensors().size());
  const auto& tensors = f.tensors();
  std::vector<std::string> hashes(tensors.size());
#pragma omp parallel for schedule(dynamic)
  for (size_t k = 0; k < tensors.size(); ++k) {
    const gguf::TensorInfo& t = tensors[k];
    std::vector<float> row(size_t(t.row_elems()));
    Sha256 hasher;
    for (int64_t r = 0; r < t.rows(); ++r) {
      quant::dequantize_row(kernels::BlockType(t.type.id), t.data + r * t.row_bytes(), row.data(),
                            t.row_elems());
      hasher.update(row.data(), row.size() * sizeof(float));
    }
    hashes[k] = hasher.finish_hex();
  }
  size_t matched = 0;
  for (size_t k = 0; k < tensors.size(); ++k) {
    const auto& want = expected.at(tensors[k].name);
    INFO(tensors[k].name << " " << tensors[k].type.name);
    CHECK(want["type"] == std::string(tensors[k].type.name));
    CHECK(hashes[k] == want["sha256"].get<std::string>());
    matched += hashes[k] == want["sha256"].get<std::string>();
  }
  CHECK(matched == tensors.size());
}

}  // namespace

TEST_CASE("SmolLM2-135M-Instruct reads as its model card says", "[model]") {
  gguf::File f = open_model(test::kSmolLM2);
  ModelConfig c = read_config(f);
  CHECK(c.arch->name == "llama");
  CHECK(c.n_layer == 30);
  CHECK(c.n_head == 9);
  CHECK(c.n_head_kv == 3);
  CHECK(c.n_embd == 576);
  CHECK(c.n_ff == 1536);
  CHECK(c.head_dim == 64);
  CHECK(c.n_ctx_train == 8192);
  CHECK(c.n_vocab == 49152);
  CHECK(c.rope_base == 100000.0);
  CHECK(c.sliding_window == 0);
  TokenizerSummary tok = read_tokenizer_summary(f);
  CHECK(tok.model == "gpt2");
  CHECK(tok.pre == "smollm");
  CHECK(tok.has_chat_template);
  check_tensor_hashes(f, test::kSmolLM2);
}

TEST_CASE("Gemma 3 270M reads as its model card says", "[model]") {
  gguf::File f = open_model(test::kGemma3);
  ModelConfig c = read_config(f);
  CHECK(c.arch->name == "gemma3");
  CHECK(c.n_layer == 18);
  CHECK(c.n_head == 4);
  CHECK(c.n_head_kv == 1);
  CHECK(c.n_embd == 640);
  CHECK(c.head_dim == 256);
  CHECK(c.n_ctx_train == 32768);
  CHECK(c.sliding_window == 512);
  CHECK(c.attention_scale == Approx(1.0f / 16));
  CHECK(c.rope_base == 1e6);
  CHECK(c.rope_base_local == 1e4);
  std::vector<int64_t> global;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    if (!c.layer_is_local[size_t(il)]) global.push_back(il);
  }
  CHECK(global == std::vector<int64_t>{5, 11, 17});
  TokenizerSummary tok = read_tokenizer_summary(f);
  CHECK(tok.model == "llama");
  CHECK(tok.vocab_size == 262144);
  check_tensor_hashes(f, test::kGemma3);
}
