// Small random-weight Hugging Face models for each architecture, with the real vocabularies
// (rebuilt bit for bit by setup from scripts/fixtures/tiny_models.py), against transformers'
// logits on the same folders (tests/fixtures/hf_tiny.json, scripts/fixtures/make_tiny_fixtures.py),
// two of them with rope scalings evaluated at 4x their original context.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/session.h"
#include "models/model.h"
#include "tests/fixtures.h"

using namespace longctx;

namespace {

// `file`: the folder itself (""), or a GGUF made from it (".gguf"). `fixture`: the reference run
// (the model's name unless given); `n_ctx`: the context (0: the prompt and the greedy tokens).
void check_tiny(const std::string& name, const char* arch, const std::string& file = "",
                std::string fixture = "", int64_t n_ctx = 0) {
  std::string folder = test::model_path("tiny/" + name) + file;
  if (!std::filesystem::exists(file.empty() ? folder + "/model.safetensors" : folder)) {
    FAIL(folder << " is missing: run scripts/setup (it builds the tiny models)");
  }
  auto bytes = test::read_fixture("hf_tiny.json");
  if (fixture.empty()) fixture = name;
  auto fx = nlohmann::json::parse(bytes.begin(), bytes.end())["models"][fixture];
  auto model = load_model(folder);
  CHECK(model->config.arch->name == arch);
  auto ids = fx["ids"].get<std::vector<int32_t>>();
  auto probes = fx["probe_ids"].get<std::vector<int32_t>>();
  SessionOptions options;
  const auto want_greedy = fx["greedy"].get<std::vector<int32_t>>();  // 8, or 16 for the newer
  options.n_ctx = n_ctx > 0 ? n_ctx : int64_t(ids.size() + want_greedy.size()) + 8;
  options.n_batch = 64;
  Session s(*model, options);
  auto logits = s.eval(ids, true);
  const int64_t n_vocab = model->config.n_vocab;
  float worst = 0;
  for (size_t p = 0; p < ids.size(); ++p) {
    const auto& ref = fx["positions"][p];
    const float* row = logits.data() + p * size_t(n_vocab);
    INFO(name << " position " << p);
    CHECK(std::max_element(row, row + n_vocab) - row == ref["top_ids"][0].get<int64_t>());
    auto top = ref["top_ids"].get<std::vector<int32_t>>();
    auto top_logits = ref["top_logits"].get<std::vector<float>>();
    for (size_t i = 0; i < top.size(); ++i)
      worst = std::max(worst, std::fabs(row[top[i]] - top_logits[i]));
    auto probe_logits = ref["probe_logits"].get<std::vector<float>>();
    for (size_t i = 0; i < probes.size(); ++i)
      worst = std::max(worst, std::fabs(row[probes[i]] - probe_logits[i]));
  }
  // Float32 weights on both sides; the f16 KV cache is the main difference.
  CHECK(worst < 0.01f);
  WARN(name << ": largest |logit difference| to transformers: " << worst);
  std::vector<float> last(logits.end() - n_vocab, logits.end());
  std::vector<int32_t> greedy;
  for (size_t i = 0; i < want_greedy.size(); ++i) {
    int32_t next = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    greedy.push_back(next);
    int32_t one[1] = {next};
    auto l = s.eval(one);
    last.assign(l.begin(), l.end());
  }
  CHECK(greedy == want_greedy);
}

}  // namespace

TEST_CASE("tiny llama folder equals transformers", "[model][hf]") {
  check_tiny("tiny-llama", "llama");
}
TEST_CASE("tiny qwen2 folder equals transformers", "[model][hf]") {
  check_tiny("tiny-qwen2", "qwen2");
}
TEST_CASE("tiny gemma3 folder equals transformers", "[model][hf]") {
  check_tiny("tiny-gemma3", "gemma3");
}
// Rope scalings at 4x the original context (128 tokens against 32 or 64): a frequency left
// unscaled, a wrong blend or a missing attention factor moves the logits past the tolerance.
TEST_CASE("tiny llama with llama3 rope scaling equals transformers past its context",
          "[model][hf][rope]") {
  check_tiny("tiny-llama3", "llama");
  check_tiny("tiny-llama3", "llama", ".gguf");  // rope_freqs, as llama.cpp's converter writes it
}
TEST_CASE("tiny qwen2 with yarn rope scaling equals transformers past its context",
          "[model][hf][rope]") {
  check_tiny("tiny-qwen2-yarn", "qwen2");
  check_tiny("tiny-qwen2-yarn", "qwen2", ".gguf");  // rope.scaling.type yarn
}
TEST_CASE("tiny qwen3 equals transformers, as a folder and as a GGUF file", "[model][hf]") {
  check_tiny("tiny-qwen3", "qwen3");
  check_tiny("tiny-qwen3", "qwen3", ".gguf");
}
// A window of 16 over 64 tokens: from position 16 on, transformers masks what a full attention
// would read (its logits move by up to 2.7 without the window).
TEST_CASE("tiny mistral's sliding window equals transformers", "[model][hf]") {
  check_tiny("tiny-mistral", "llama");
}
// LongRoPE (original context 32, factor 8): 128 tokens in a context of 144 take the long factors;
// 16 tokens in a context of 32 the short ones (transformers on 16 + 8 tokens: short throughout).
TEST_CASE("tiny phi3 with LongRoPE equals transformers, long and short", "[model][hf][rope]") {
  check_tiny("tiny-phi3", "phi3");
  check_tiny("tiny-phi3", "phi3", "", "tiny-phi3-short", 32);
  // rope_factors_long / _short tensors and rope.scaling.attn_factor, as llama.cpp writes Phi-3.
  check_tiny("tiny-phi3", "phi3", ".gguf");
  check_tiny("tiny-phi3", "phi3", ".gguf", "tiny-phi3-short", 32);
}
// Gemma 2: local (window 8) and global layers alternate over 64 tokens; attention scores capped at
// 0.3 and logits at 2.5 (transformers' logits move by 0.75 without the attention cap alone), and
// queries scaled by query_pre_attn_scalar 24, not the head dimension 16.
TEST_CASE("tiny gemma2 with soft-caps equals transformers, as a folder and as a GGUF file",
          "[model][hf]") {
  check_tiny("tiny-gemma2", "gemma2");
  check_tiny("tiny-gemma2", "gemma2", ".gguf");  // attn/final_logit_softcapping, 1 + w norms
}

// Rope scalings on sliding-window layers (each layer's rotation is the architecture row's
// LocalRope rule). Phi-3 mini 128k, Phi-3.5 and Phi-4 mini carry "sliding_window": 262144 and
// scale every layer; so do Mistral and Qwen2 with windows that mask. Gemma 3 scales its global
// layers only.
TEST_CASE("tiny phi3 with a sliding window still takes LongRoPE on every layer",
          "[model][hf][rope]") {
  check_tiny("tiny-phi3-window", "phi3");
  check_tiny("tiny-phi3-window", "phi3", ".gguf");  // attention.sliding_window 262144
}
// partial_rotary_factor 0.75 with LongRoPE: the attention factor multiplies the 6 rotated
// dimensions of each head, not the 2 that pass through.
TEST_CASE("tiny phi4-mini (partial rotary, LongRoPE, window) equals transformers",
          "[model][hf][rope]") {
  check_tiny("tiny-phi4-mini", "phi3");
  check_tiny("tiny-phi4-mini", "phi3", "", "tiny-phi4-mini-short", 32);
  check_tiny("tiny-phi4-mini", "phi3", ".gguf");
  check_tiny("tiny-phi4-mini", "phi3", ".gguf", "tiny-phi4-mini-short", 32);
}
TEST_CASE("tiny mistral with yarn and a window of 32 equals transformers past its context",
          "[model][hf][rope]") {
  check_tiny("tiny-mistral-yarn", "llama");
}
TEST_CASE("tiny qwen2 with sliding-window layers and yarn equals transformers",
          "[model][hf][rope]") {
  check_tiny("tiny-qwen2-swa-yarn", "qwen2");
}
// transformers 5's rope_parameters (no top-level rope_theta): the sliding-window layer rotates at
// the model's base 1e6.
TEST_CASE("tiny qwen2 written by transformers 5 (rope_parameters) equals transformers",
          "[model][hf][rope]") {
  check_tiny("tiny-qwen2-rope-parameters", "qwen2");
}
TEST_CASE("tiny gemma3 with linear scaling on its global layers only equals transformers",
          "[model][hf][rope]") {
  check_tiny("tiny-gemma3-linear", "gemma3");
}
// SmolLM3: layer 3 of 4 without RoPE (no_rope_layers), yarn at 4x its original context (128
// tokens against 32). The GGUF carries no key for the NoPE layers (llama.cpp fixes every 4th).
// Rotating layer 3 as well moves the logits past the tolerance.
TEST_CASE("tiny smollm3 with a NoPE layer and yarn equals transformers, folder and GGUF",
          "[model][hf][rope]") {
  check_tiny("tiny-smollm3", "smollm3");
  check_tiny("tiny-smollm3", "smollm3", ".gguf");
  for (const char* file : {"", ".gguf"}) {
    auto model = load_model(test::model_path("tiny/tiny-smollm3") + file);
    CHECK(model->config.layer_no_rope == std::vector<bool>{false, false, false, true});
    CHECK(model->config.n_local_layers() == 0);
    // The NoPE layer's rotation is the identity: no frequency, no yarn attention factor.
    const LayerRope r = model->config.layer_rope(3, 128);
    CHECK(std::all_of(r.inv_freq.begin(), r.inv_freq.end(), [](float f) { return f == 0.0f; }));
    CHECK(r.amplitude == 1.0f);
    CHECK(model->config.layer_rope(2, 128).amplitude > 1.0f);
  }
}
// With use_sliding_window and only no_rope_layer_interval 2 given, transformers derives
// no_rope_layers [1, 0, 1, 0] and puts the window (16 of 64 tokens) on the layers without RoPE.
TEST_CASE("tiny smollm3 with its window on the NoPE layers equals transformers", "[model][hf]") {
  check_tiny("tiny-smollm3-window", "smollm3");
  auto model = load_model(test::model_path("tiny/tiny-smollm3-window"));
  CHECK(model->config.layer_no_rope == std::vector<bool>{false, true, false, true});
  CHECK(model->config.layer_is_local == std::vector<bool>{false, true, false, true});
  CHECK(model->config.sliding_window == 16);
}

// Routed experts. Qwen3-MoE: every layer's FFN 8 experts of 16, 2 per token renormalised
// (norm_topk_prob), yarn at 4x its original context; the GGUF stacks the experts in 3-D tensors
// (ffn_*_exps) as llama.cpp's converter does. A router taking only its first choice, or weights
// left unrenormalised, moves the logits past the tolerance.
TEST_CASE("tiny qwen3-moe with routed experts and yarn equals transformers, folder and GGUF",
          "[model][hf][moe]") {
  check_tiny("tiny-qwen3moe", "qwen3moe");
  check_tiny("tiny-qwen3moe", "qwen3moe", ".gguf");
  for (const char* file : {"", ".gguf"}) {
    auto model = load_model(test::model_path("tiny/tiny-qwen3moe") + file);
    const ExpertFfn& e = model->config.experts;
    CHECK((e.count == 8 && e.used == 2 && e.n_ff == 32 && e.renormalize));
    const LayerWeights& L = model->layers[1];
    REQUIRE(L.gate_exps.size() == 8);
    CHECK((L.down_exps[7].rows == 32 && L.down_exps[7].cols == 32));
    CHECK(L.w_gate.data == nullptr);  // no dense FFN
  }
}
// transformers' default for Qwen3-MoE: the chosen experts keep their softmax probabilities.
TEST_CASE("tiny qwen3-moe with norm_topk_prob false keeps the softmax's weights",
          "[model][hf][moe]") {
  check_tiny("tiny-qwen3moe-unnormed", "qwen3moe");
  CHECK_FALSE(
      load_model(test::model_path("tiny/tiny-qwen3moe-unnormed"))->config.experts.renormalize);
}
// Mixtral: MixtralForCausalLM's block_sparse_moe (w1 gate, w3 up, w2 down) in a folder, llama
// with expert keys and tensors in a GGUF.
TEST_CASE("tiny mixtral equals transformers, as a folder and as a llama GGUF with experts",
          "[model][hf][moe]") {
  check_tiny("tiny-mixtral", "llama");
  check_tiny("tiny-mixtral", "llama", ".gguf");
}
