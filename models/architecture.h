// The supported architectures as data: one row each, holding everything that differs between them
// (tensor names in GGUF files and in Hugging Face folders, which tensors a layer has, activation,
// norm placement, embedding scale, rope layout, sliding-window pattern, query scaling). The loaders
// read the names from the row; engine/forward.cpp reads the flags. Nothing else branches on an
// architecture's name. Facts from llama.cpp's llama-arch / llama-model and transformers' modeling
// files (llama.cpp src/llama-arch.cpp: LLM_KV_NAMES, LLM_TENSOR_NAMES).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace longctx {

enum class RopeType { Norm, Neox };  // consecutive pairs vs. halves (gguf.md 3.4)
enum class Activation { Silu, GeluTanh };

// Which rotation a model's sliding-window (local) layers use.
enum class LocalRope {
  // The global layers' rotation, rope scaling included (llama.cpp's default for every
  // architecture; transformers has one rotary embedding for every layer of Mistral, Phi-3, Qwen2,
  // Gemma 2). Real configs put a window on every layer (Phi-3's sliding_window 262144) and still
  // scale them all.
  Global,
  // Their own base and their own scaling, none unless the file gives one (Gemma 3: transformers'
  // rope_parameters per layer type, default rope at base 10000; llama.cpp's
  // rope_freq_base_train_swa 10000 and rope_freq_scale_train_swa 1).
  Own,
};

// The weights of one layer, as the recipe names them.
enum class LayerTensor {
  AttnNorm,
  Wq,
  Wk,
  Wv,
  Wo,
  Bq,
  Bk,
  Bv,
  QNorm,         // per-head RMSNorm of the queries
  KNorm,         // and of the keys
  PostAttnNorm,  // on the attention's output, before the residual add
  FfnNorm,
  Gate,
  Up,
  Down,
  PostFfnNorm,  // on the FFN's output, before the residual add
  Wqkv,         // q, k and v stacked in one matrix (Phi-3): the loader splits it into Wq, Wk, Wv
  GateUp,       // gate then up in one matrix (Phi-3): split into Gate, Up
  // A routed-expert FFN (ModelConfig::experts): the router, and each expert's gated FFN. GGUF
  // stacks the experts in one 3-D tensor; a Hugging Face folder holds one matrix per expert, its
  // name with "{e}" for the expert's number.
  Router,
  GateExps,
  UpExps,
  DownExps,
};

enum class Need { Optional, Required };

// How a config.json's sliding window applies, per Hugging Face class (as transformers reads it).
enum class HfWindow {
  None,        // the class has no sliding window (a config key is ignored, as transformers does)
  AllLayers,   // sliding_window, when not null, masks every layer (Mistral)
  Flagged,     // only with use_sliding_window: layers from max_window_layers on (Qwen2, Qwen3)
  FlaggedAll,  // only with use_sliding_window: every layer (Qwen3-MoE)
  LayerTypes,  // layer_types, or every swa_period-th layer global (Gemma 3)
  // Only with use_sliding_window and a sliding_window: the layers layer_types marks, by default the
  // layers without RoPE (SmolLM3Config).
  NoRopeLayers,
};

struct HfClass {
  std::string_view name;  // a config.json "architectures" entry
  HfWindow window;
  bool routed = false;  // its FFN is the row's routed experts (MixtralForCausalLM)
};

// One layer tensor's names: "blk.<i>." + gguf in a GGUF file, "model.layers.<i>." + hf in a
// Hugging Face folder.
struct TensorName {
  LayerTensor role;
  std::string_view gguf, hf;
  Need need;
};

// A row names what differs from the defaults below (the common llama-like choices).
struct ArchInfo {
  std::string_view name;                // general.architecture
  std::span<const HfClass> hf;          // config.json "architectures" entries
  std::span<const TensorName> tensors;  // the layer's tensors; the ones not listed are absent
  // The FFN's variant with routed experts: read instead of Gate, Up and Down when the file gives
  // experts (Mixtral is a llama GGUF with experts), else absent.
  std::span<const TensorName> expert_tensors;
  // Every layer's FFN is routed: a file without experts is refused (qwen3moe). GGUF files without
  // <arch>.expert_feed_forward_length then give each expert feed_forward_length / experts used
  // (llama.cpp's rule); otherwise an expert is feed_forward_length wide.
  bool experts_only = false;
  // The config.json key saying whether the chosen experts' probabilities are renormalised to sum
  // to one (Qwen3-MoE's norm_topk_prob, false by default); empty: always (Mixtral).
  std::string_view hf_expert_norm_key;
  // Rope layout. Hugging Face stores q_proj/k_proj rows in rotate_half (NeoX) order; llama.cpp's
  // converter permutes llama's to interleaved pairs, which GGUF llama runs as "norm" rope.
  // longctx reads HF weights unpermuted and runs NeoX rope on them (the same result).
  RopeType gguf_rope = RopeType::Neox;
  RopeType hf_rope = RopeType::Neox;
  Activation activation = Activation::Silu;  // of the gated FFN
  // The config.json key transformers reads the activation from (ACT2FN names).
  std::string_view hf_activation_key = "hidden_act";
  bool embedding_scale = false;   // token embeddings times sqrt(n_embd)
  bool hf_norm_plus_one = false;  // HF stores w, computes x * (1 + w); GGUF holds 1 + w
  int swa_period = 0;  // every swa_period-th layer global, the rest local (0: no pattern)
  LocalRope local_rope = LocalRope::Global;
  // A GGUF without <arch>.attention.sliding_window: this width (llama.cpp's Gemma 2 default).
  int64_t gguf_default_window = 0;
  double swa_rope_base = 0.0;              // LocalRope::Own: the local layers' default base
  std::string_view hf_query_scalar;        // config.json key: queries scaled by 1/sqrt(it)
  std::string_view default_chat_template;  // a chat family for files without a template
  // A layer count at which GGUF files scale queries by 1/sqrt(n_embd / n_head) (Gemma 2 and 3 27B).
  int64_t gguf_query_scale_by_embd_layers = 0;
  // Every nope_period-th layer (the nope_period-th, the 2 nope_period-th, ...) attends without
  // rotary embedding (SmolLM3's NoPE layers). GGUF files carry no key for it: llama.cpp fixes the
  // step at 4 for smollm3 (hparams n_no_rope_layer_step). A config.json lists the layers in
  // no_rope_layers (1: rope, 0: none), else gives no_rope_layer_interval, this by default.
  int nope_period = 0;
  // Reads attention and final logit soft-caps (GGUF <arch>.attn_logit_softcapping and
  // <arch>.final_logit_softcapping; config.json attn_logit_softcapping, final_logit_softcapping).
  bool softcaps = false;

  bool has(LayerTensor role) const;
};

// The model-wide tensors' names (the same in every supported architecture).
// rope_freqs: llama.cpp's per-frequency divisors (Llama 3.x rope scaling); rope_long, rope_short:
// LongRoPE's (Phi-3). GGUF only: Hugging Face configs carry them as numbers.
struct GlobalTensorNames {
  std::string_view token_embd, output_norm, output, rope_freqs, rope_long, rope_short;
};
inline constexpr GlobalTensorNames kGgufGlobals{
    "token_embd.weight", "output_norm.weight",       "output.weight",
    "rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"};
inline constexpr GlobalTensorNames kHfGlobals{
    "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", {}, {}, {}};

// The row of a GGUF architecture name; nullptr for any other name.
const ArchInfo* find_arch(std::string_view name);
// The row of a config.json "architectures" entry; nullptr when unsupported.
const ArchInfo* find_hf_arch(std::string_view hf_class);
const HfClass* find_hf_class(std::string_view hf_class);
std::string supported_arch_names();      // "llama, qwen2, qwen3, phi3, gemma2, gemma3, smollm3"
std::string supported_hf_class_names();  // "LlamaForCausalLM, MistralForCausalLM, ..."

}  // namespace longctx
