#include "models/hf_conventions.h"

namespace longctx::hf {

RopeType rope_layout(const ArchInfo&) {
  // Every supported architecture stores HF Q/K rows in rotate_half order.
  return RopeType::Neox;
}

bool norm_weights_add_one(const ArchInfo& arch) {
  return arch.name == "gemma3";
}

std::string_view arch_for(std::string_view hf_architecture) {
  struct Entry {
    std::string_view hf, ours;
  };
  static constexpr Entry kTable[] = {
      {"LlamaForCausalLM", "llama"},
      {"MistralForCausalLM", "llama"},
      {"Qwen2ForCausalLM", "qwen2"},
      {"Gemma3ForCausalLM", "gemma3"},
  };
  for (const Entry& e : kTable) {
    if (e.hf == hf_architecture) return e.ours;
  }
  return {};
}

}  // namespace longctx::hf
