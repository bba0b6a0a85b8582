// Model hyper-parameters, read from GGUF metadata (here) or a config.json (models/hf_model.cpp).
// What differs between architectures is a row of models/architecture.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/architecture.h"

namespace longctx {

// How the rotary frequencies of global layers are stretched past the trained context, as
// transformers' rope_init functions and llama.cpp compute them (transformers
// modeling_rope_utils.py, llama.cpp ggml_rope_yarn_corr_dims).
// How the rotary frequencies are stretched past the trained context.
enum class RopeScalingType { None, Linear, Llama3, Yarn, LongRope };
// Its name as transformers' rope_type and llama.cpp's rope.scaling.type spell it ("none",
// "linear", "llama3", "yarn", "longrope"), for messages and `longctx info`.
const char* rope_scaling_name(RopeScalingType t);

struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1.0;
  int64_t original_context = 0;
  // llama3: wavelengths above original_context / low_freq_factor are divided by factor, those
  // below original_context / high_freq_factor kept, the ones between blended.
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  // yarn: dimensions rotating more than beta_fast times in the original context keep their
  // frequency, fewer than beta_slow times are divided by factor, a linear ramp between (its ends
  // floored / ceiled: transformers' truncate, llama.cpp's corr_dims).
  double beta_fast = 32.0, beta_slow = 1.0;
  // yarn, longrope: cos and sin are multiplied by this, so the rotated dimensions of q and k grow
  // by it and only those (transformers' attention_scaling, llama.cpp's mscale); yarn's default
  // 0.1 ln(factor) + 1.
  double attention_factor = 1.0;
  // A GGUF's rope_freqs tensor (llama.cpp's Llama 3 factors): frequency i divided by factors[i].
  std::vector<float> freq_factors;
  // longrope (Phi-3): frequency i divided by short_factors[i], or by long_factors[i] when the
  // context is longer than original_context (llama.cpp's choice by context size; transformers
  // switches on the length of each forward call, the same for one call over the context);
  // attention_factor sqrt(1 + ln(factor) / ln(original_context)) by default.
  std::vector<float> short_factors, long_factors;
};

// One layer's rotation: frequency i of the n_rot / 2 rotated pairs, and the factor on the rotated
// dimensions (1 unless a yarn or LongRoPE scaling applies to the layer).
struct LayerRope {
  std::vector<float> inv_freq;
  float amplitude = 1.0f;
};

// A routed-expert FFN (mixture of experts) in every layer: the router's softmax over `count`
// experts, each token's `used` most probable ones, their probabilities renormalised to sum to one
// when `renormalize` (else the softmax's own), each expert a gated FFN `n_ff` wide. count 0: the
// dense gated FFN. (transformers' Qwen3MoeTopKRouter and MixtralTopKRouter; llama.cpp's
// build_moe_ffn with softmax gating.)
struct ExpertFfn {
  int64_t count = 0, used = 0, n_ff = 0;
  bool renormalize = true;
};
// Bounds a file's expert counts must keep (every published model is far inside them: Qwen3-235B
// has 128 experts, 8 used); the CPU and CUDA routers keep a token's choice on the stack.
inline constexpr int64_t kMaxExperts = 1024;
inline constexpr int64_t kMaxExpertsUsed = 32;

struct ModelConfig {
  const ArchInfo* arch = nullptr;
  std::string name;  // general.name, if any
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;   // key length
  int64_t value_dim = 0;  // value length
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_rot = 0;                    // rotated dimensions per head
  RopeType rope_type = RopeType::Norm;  // the arch's layout, unless the weights' layout differs
  double rms_eps = 1e-5;
  double rope_base = 10000.0;
  // Sliding-window layers: their base (the global one unless the file gives theirs), and, where
  // the architecture's local layers rotate on their own (LocalRope::Own), their scaling; other
  // architectures' local layers take rope_scaling.
  double rope_base_local = 10000.0;
  RopeScaling rope_scaling;
  RopeScaling rope_scaling_local;
  float attention_scale = 0.0f;      // multiplies q·k
  int64_t sliding_window = 0;        // 0 = none
  std::vector<bool> layer_is_local;  // per layer: sliding-window attention
  // Per layer: no rotary embedding (NoPE). Such a layer's rotation has every frequency 0: angle 0,
  // cos 1, sin 0, the identity exactly, in the forward pass and in every re-rotation of its keys.
  std::vector<bool> layer_no_rope;
  // Soft-capping (Gemma 2): attention scores (after the scale) and output logits become
  // cap * tanh(x / cap). 0: none.
  float attn_softcap = 0.0f;
  float final_softcap = 0.0f;
  ExpertFfn experts;

  bool routed() const { return experts.count > 0; }

  int64_t n_local_layers() const;
  bool rotates(int64_t layer) const {
    return layer_no_rope.empty() || !layer_no_rope[size_t(layer)];
  }
  // The scaling that applies to a layer (the architecture's LocalRope rule).
  const RopeScaling& layer_scaling(int64_t layer) const;
  // One layer's rotation in a context of n_ctx tokens: base^(-2i/n_rot) for i < n_rot/2,
  // stretched by the layer's scaling, and its attention factor.
  LayerRope layer_rope(int64_t layer, int64_t n_ctx) const;
  std::vector<float> rotary_frequencies(int64_t layer, int64_t n_ctx) const {
    return layer_rope(layer, n_ctx).inv_freq;
  }
};

// The ranges both readers (GGUF metadata, config.json) enforce, in one place: a value outside
// them is refused naming the reader's own key for the field, never run.
enum class ConfigField {
  ContextLength,
  RmsEps,
  RopeBase,
  RopeBaseLocal,
  AttentionScale,
  SlidingWindow,
  ScalingFactor,
  ScalingOriginalContext,
  ScalingAttentionFactor,
  LocalScalingFactor,
  LocalScalingOriginalContext,
  LocalScalingAttentionFactor,
};
struct ConfigProblem {
  ConfigField field;
  std::string message;  // "must be ..., got ..."
};
std::optional<ConfigProblem> find_config_problem(const ModelConfig& c);

// What the GGUF says about its tokenizer, for `info` (the tokenizer itself lives in tokenizer/).
struct TokenizerSummary {
  std::string model;  // tokenizer.ggml.model: "gpt2" (BPE), "llama" (SPM), ...
  std::string pre;    // tokenizer.ggml.pre
  int64_t vocab_size = 0;
  int64_t n_merges = 0;
  std::optional<int64_t> bos, eos, eot, unk, pad;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  bool has_chat_template = false;
  int64_t n_control_tokens = 0;
};

}  // namespace longctx
