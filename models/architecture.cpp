#include "models/architecture.h"

#include <array>

namespace longctx {
namespace {

using enum LayerTensor;
constexpr Need R = Need::Required;
constexpr Need O = Need::Optional;

// The attention block of llama-style layers. Biases are read where a file has them (some llama
// fine-tunes do); qwen2 requires them.
#define LONGCTX_ATTENTION(bias_need)                                     \
  TensorName{AttnNorm, "attn_norm.weight", "input_layernorm.weight", R}, \
      {Wq, "attn_q.weight", "self_attn.q_proj.weight", R},               \
      {Wk, "attn_k.weight", "self_attn.k_proj.weight", R},               \
      {Wv, "attn_v.weight", "self_attn.v_proj.weight", R},               \
      {Wo, "attn_output.weight", "self_attn.o_proj.weight", R},          \
      {Bq, "attn_q.bias", "self_attn.q_proj.bias", bias_need},           \
      {Bk, "attn_k.bias", "self_attn.k_proj.bias", bias_need}, {         \
    Bv, "attn_v.bias", "self_attn.v_proj.bias", bias_need                \
  }
#define LONGCTX_GATED_FFN                                         \
  TensorName{Gate, "ffn_gate.weight", "mlp.gate_proj.weight", R}, \
      {Up, "ffn_up.weight", "mlp.up_proj.weight", R}, {           \
    Down, "ffn_down.weight", "mlp.down_proj.weight", R            \
  }

constexpr TensorName kLlamaTensors[] = {
    LONGCTX_ATTENTION(O),
    // In a Hugging Face llama the "post attention" norm is the one in front of the MLP.
    {FfnNorm, "ffn_norm.weight", "post_attention_layernorm.weight", R},
    LONGCTX_GATED_FFN,
};
constexpr TensorName kQwen2Tensors[] = {
    LONGCTX_ATTENTION(R),
    {FfnNorm, "ffn_norm.weight", "post_attention_layernorm.weight", R},
    LONGCTX_GATED_FFN,
};
// Qwen3: per-head RMSNorm of q and k before the rotation, no q/k/v biases.
constexpr TensorName kQwen3Tensors[] = {
    LONGCTX_ATTENTION(O),
    {QNorm, "attn_q_norm.weight", "self_attn.q_norm.weight", R},
    {KNorm, "attn_k_norm.weight", "self_attn.k_norm.weight", R},
    {FfnNorm, "ffn_norm.weight", "post_attention_layernorm.weight", R},
    LONGCTX_GATED_FFN,
};
// Phi-3: fused q/k/v and gate/up products, no biases.
constexpr TensorName kPhi3Tensors[] = {
    {AttnNorm, "attn_norm.weight", "input_layernorm.weight", R},
    {Wqkv, "attn_qkv.weight", "self_attn.qkv_proj.weight", R},
    {Wo, "attn_output.weight", "self_attn.o_proj.weight", R},
    {FfnNorm, "ffn_norm.weight", "post_attention_layernorm.weight", R},
    {GateUp, "ffn_up.weight", "mlp.gate_up_proj.weight", R},
    {Down, "ffn_down.weight", "mlp.down_proj.weight", R},
};
constexpr TensorName kGemma3Tensors[] = {
    LONGCTX_ATTENTION(O),
    {QNorm, "attn_q_norm.weight", "self_attn.q_norm.weight", R},
    {KNorm, "attn_k_norm.weight", "self_attn.k_norm.weight", R},
    // Gemma's sandwich: a norm after attention and after the FFN, before each residual add.
    {PostAttnNorm, "post_attention_norm.weight", "post_attention_layernorm.weight", R},
    {FfnNorm, "ffn_norm.weight", "pre_feedforward_layernorm.weight", R},
    {PostFfnNorm, "post_ffw_norm.weight", "post_feedforward_layernorm.weight", R},
    LONGCTX_GATED_FFN,
};
// Gemma 2: Gemma 3's sandwich norms without the per-head q/k norms.
constexpr TensorName kGemma2Tensors[] = {
    LONGCTX_ATTENTION(O),
    {PostAttnNorm, "post_attention_norm.weight", "post_attention_layernorm.weight", R},
    {FfnNorm, "ffn_norm.weight", "pre_feedforward_layernorm.weight", R},
    {PostFfnNorm, "post_ffw_norm.weight", "post_feedforward_layernorm.weight", R},
    LONGCTX_GATED_FFN,
};
// Qwen3-MoE: Qwen3's attention, then only the routed FFN.
constexpr TensorName kQwen3MoeTensors[] = {
    LONGCTX_ATTENTION(O),
    {QNorm, "attn_q_norm.weight", "self_attn.q_norm.weight", R},
    {KNorm, "attn_k_norm.weight", "self_attn.k_norm.weight", R},
    {FfnNorm, "ffn_norm.weight", "post_attention_layernorm.weight", R},
};
#undef LONGCTX_ATTENTION
#undef LONGCTX_GATED_FFN

// Routed experts as llama.cpp's converter stacks them (ffn_*_exps: [experts][rows][cols]) and as
// the Hugging Face checkpoints hold them, one matrix per expert.
constexpr TensorName kQwenMoeExperts[] = {
    {Router, "ffn_gate_inp.weight", "mlp.gate.weight", R},
    {GateExps, "ffn_gate_exps.weight", "mlp.experts.{e}.gate_proj.weight", R},
    {UpExps, "ffn_up_exps.weight", "mlp.experts.{e}.up_proj.weight", R},
    {DownExps, "ffn_down_exps.weight", "mlp.experts.{e}.down_proj.weight", R},
};
// Mixtral: w1 is the gate, w3 the up and w2 the down projection.
constexpr TensorName kMixtralExperts[] = {
    {Router, "ffn_gate_inp.weight", "block_sparse_moe.gate.weight", R},
    {GateExps, "ffn_gate_exps.weight", "block_sparse_moe.experts.{e}.w1.weight", R},
    {UpExps, "ffn_up_exps.weight", "block_sparse_moe.experts.{e}.w3.weight", R},
    {DownExps, "ffn_down_exps.weight", "block_sparse_moe.experts.{e}.w2.weight", R},
};

// Mistral's checkpoints are llama's layout; GGUF files of them say "llama".
constexpr HfClass kLlamaHf[] = {{"LlamaForCausalLM", HfWindow::None},
                                {"MistralForCausalLM", HfWindow::AllLayers},
                                {"MixtralForCausalLM", HfWindow::AllLayers, true}};
constexpr HfClass kQwen2Hf[] = {{"Qwen2ForCausalLM", HfWindow::Flagged}};
constexpr HfClass kQwen3Hf[] = {{"Qwen3ForCausalLM", HfWindow::Flagged}};
constexpr HfClass kQwen3MoeHf[] = {{"Qwen3MoeForCausalLM", HfWindow::FlaggedAll, true}};
constexpr HfClass kPhi3Hf[] = {{"Phi3ForCausalLM", HfWindow::AllLayers}};
constexpr HfClass kGemma2Hf[] = {{"Gemma2ForCausalLM", HfWindow::LayerTypes}};
constexpr HfClass kGemma3Hf[] = {{"Gemma3ForCausalLM", HfWindow::LayerTypes}};
constexpr HfClass kSmolLM3Hf[] = {{"SmolLM3ForCausalLM", HfWindow::NoRopeLayers}};

constexpr std::array kArchs = {
    // llama.cpp's converter permutes llama's q/k rows to interleaved pairs. Mixtral is llama with
    // routed experts (its GGUF files say "llama").
    ArchInfo{.name = "llama",
             .hf = kLlamaHf,
             .tensors = kLlamaTensors,
             .expert_tensors = kMixtralExperts,
             .gguf_rope = RopeType::Norm},
    ArchInfo{.name = "qwen2", .hf = kQwen2Hf, .tensors = kQwen2Tensors},
    ArchInfo{.name = "qwen3", .hf = kQwen3Hf, .tensors = kQwen3Tensors},
    ArchInfo{.name = "qwen3moe",
             .hf = kQwen3MoeHf,
             .tensors = kQwen3MoeTensors,
             .expert_tensors = kQwenMoeExperts,
             .experts_only = true,
             .hf_expert_norm_key = "norm_topk_prob"},
    ArchInfo{.name = "phi3", .hf = kPhi3Hf, .tensors = kPhi3Tensors},
    // gemma2: local and global layers alternate, local first (llama.cpp set_swa_pattern(2),
    // transformers' layer_types); one rope base; attention and final logits soft-capped. The 27B
    // model (46 layers) scales queries by 1/sqrt(n_embd / n_head), as llama.cpp hard-codes it.
    ArchInfo{.name = "gemma2",
             .hf = kGemma2Hf,
             .tensors = kGemma2Tensors,
             .activation = Activation::GeluTanh,
             .hf_activation_key = "hidden_activation",
             .embedding_scale = true,
             .hf_norm_plus_one = true,
             .swa_period = 2,
             .gguf_default_window = 4096,
             .hf_query_scalar = "query_pre_attn_scalar",
             .default_chat_template = "gemma",
             .gguf_query_scale_by_embd_layers = 46,
             .softcaps = true},
    // gemma3: 5 local layers then 1 global (llama.cpp set_swa_pattern(6)); local layers rotate on
    // their own, at base 10000 without the global scaling unless the file says otherwise. The
    // 27B model (62 layers) scales queries by 1/sqrt(n_embd / n_head) (query_pre_attn_scalar),
    // which llama.cpp hard-codes by layer count. Gemma GGUFs often carry no chat template.
    ArchInfo{.name = "gemma3",
             .hf = kGemma3Hf,
             .tensors = kGemma3Tensors,
             .activation = Activation::GeluTanh,
             .hf_activation_key = "hidden_activation",
             .embedding_scale = true,
             .hf_norm_plus_one = true,
             .swa_period = 6,
             .local_rope = LocalRope::Own,
             .swa_rope_base = 10000.0,
             .hf_query_scalar = "query_pre_attn_scalar",
             .default_chat_template = "gemma",
             .gguf_query_scale_by_embd_layers = 62,
             .softcaps = true},
    // smollm3: llama's layer (the converter permutes q/k the same way) with every 4th layer
    // without RoPE (transformers' SmolLM3Attention.use_rope, llama.cpp's smollm3 graph).
    ArchInfo{.name = "smollm3",
             .hf = kSmolLM3Hf,
             .tensors = kLlamaTensors,
             .gguf_rope = RopeType::Norm,
             .nope_period = 4},
};

}  // namespace

bool ArchInfo::has(LayerTensor role) const {
  for (const TensorName& t : tensors) {
    if (t.role == role) return true;
  }
  return false;
}

const ArchInfo* find_arch(std::string_view name) {
  for (const ArchInfo& a : kArchs) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const ArchInfo* find_hf_arch(std::string_view hf_class) {
  for (const ArchInfo& a : kArchs) {
    for (const HfClass& h : a.hf) {
      if (h.name == hf_class) return &a;
    }
  }
  return nullptr;
}

const HfClass* find_hf_class(std::string_view hf_class) {
  for (const ArchInfo& a : kArchs) {
    for (const HfClass& h : a.hf) {
      if (h.name == hf_class) return &h;
    }
  }
  return nullptr;
}

std::string supported_arch_names() {
  std::string names;
  for (const ArchInfo& a : kArchs) names += (names.empty() ? "" : ", ") + std::string(a.name);
  return names;
}

std::string supported_hf_class_names() {
  std::string names;
  for (const ArchInfo& a : kArchs) {
    for (const HfClass& h : a.hf) names += (names.empty() ? "" : ", ") + std::string(h.name);
  }
  return names;
}

}  // namespace longctx
