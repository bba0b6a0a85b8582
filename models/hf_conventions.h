// The one place where Hugging Face checkpoints and GGUF files disagree on conventions, and what
// longctx does about each (shared/reference/gguf.md 3.3 and 4.3):
//  - Rotary layout of Q/K (llama): HF stores the rows of q_proj/k_proj in "rotate_half" (NeoX)
//    order; llama.cpp's converter permutes them to interleaved pairs and GGUF llama runs "norm"
//    RoPE. longctx reads HF weights unpermuted and runs NeoX RoPE instead (same result).
//  - Gemma norm weights: GGUF already holds 1 + w (the converter adds one); HF holds w and the
//    model computes x * (1 + w). longctx adds one while loading an HF Gemma checkpoint.
#pragma once

#include <string_view>

#include "models/config.h"

namespace longctx::hf {

// The rope layout to run for weights in HF order.
RopeType rope_layout(const ArchInfo& arch);

// Whether every "*norm.weight" tensor must be shifted by +1 to match GGUF's convention.
bool norm_weights_add_one(const ArchInfo& arch);

// longctx architecture name for a config.json "architectures" entry; empty when unsupported.
std::string_view arch_for(std::string_view hf_architecture);

}  // namespace longctx::hf
