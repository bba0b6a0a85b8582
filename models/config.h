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
// transformers' rope_init functions and llama.cpp compute them (shared/reference/rope.md).
struct RopeScaling {
  std::string type = "none";  // none, linear, llama3, yarn, longrope
  double factor = 1.0;
  int64_t original_context = 0;
  // llama3: wavelengths above original_context / low_freq_factor are divided by factor, those
  // below original_context / high_freq_factor kept, the ones between blended.
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  // yarn: dimensions rotating more than beta_fast times in the original context keep their
  // frequency, fewer than beta_slow times are divided by factor, a linear ramp between (its ends
  // floored / ceiled: transformers' truncate, llama.cpp's corr_dims).
  double beta_fast = 32.0, beta_slow = 1.0;
  // yarn: cos and sin are multiplied by this (q.k by its square); 0.1 ln(factor) + 1 by default.
  double attention_factor = 1.0;
  // A GGUF's rope_freqs tensor (llama.cpp's Llama 3 factors): frequency i divided by factors[i].
  std::vector<float> freq_factors;
  // longrope (Phi-3): frequency i divided by short_factors[i], or by long_factors[i] when the
  // context is longer than original_context (llama.cpp's choice by context size; transformers
  // switches on the length of each forward call, the same for one call over the context);
  // attention_factor sqrt(1 + ln(factor) / ln(original_context)) by default.
  std::vector<float> short_factors, long_factors;
};

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
  double rope_base_local = 10000.0;  // for sliding-window layers
  RopeScaling rope_scaling;
  float attention_scale = 0.0f;      // multiplies q·k
  int64_t sliding_window = 0;        // 0 = none
  std::vector<bool> layer_is_local;  // per layer: sliding-window attention
  // Soft-capping (Gemma 2): attention scores (after the scale) and output logits become
  // cap * tanh(x / cap). 0: none.
  float attn_softcap = 0.0f;
  float final_softcap = 0.0f;

  int64_t n_local_layers() const;
  // Rotary frequencies of one layer in a context of n_ctx tokens, base^(-2i/n_rot) for
  // i < n_rot/2, stretched by the scaling. Gemma 3: local layers use their own base and no scaling.
  std::vector<float> rotary_frequencies(int64_t layer, int64_t n_ctx) const;
  // The scaling's factor on q.k (yarn's attention factor, squared): folded into attention_scale
  // by the readers, since q and k both carry it.
  double rope_logit_factor() const;
};

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
