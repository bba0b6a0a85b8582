// Element-wise and row operations of the forward pass, on float rows.
#pragma once

#include <cstdint>

namespace longctx::cpu {

// y = x / sqrt(mean(x^2) + eps) * w  (w as stored; Gemma's GGUF weights already hold the +1)
void rms_norm(const float* x, const float* w, float eps, int64_t n, float* y);

enum class RopeLayout { Pairs, Halves };  // llama "norm" (x[2i], x[2i+1]) / NeoX (x[i], x[i+d/2])

// Rotates the first n_rot dims of each of n_heads heads (head_dim apart) by position `pos` and
// multiplies them by `amplitude` (yarn's and LongRoPE's attention factor; the other dimensions
// stay as they are). inv_freq[i] = base^(-2i/n_rot) / scale, precomputed by the caller (n_rot/2
// entries).
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* inv_freq,
          float amplitude, int64_t pos, RopeLayout layout);

// The same rotation with precomputed cos[i], sin[i] (n_rot/2 each): for turning many vectors by
// one angle set, as when an evicted cache re-positions its keys.
void rope_table(float* x, int64_t head_dim, int64_t n_rot, const float* cos, const float* sin,
                RopeLayout layout);

// GLU FFN activations: gate[i] = act(gate[i]) * up[i].
void swiglu(float* gate, const float* up, int64_t n);
void geglu_tanh(float* gate, const float* up, int64_t n);

void add(float* y, const float* x, int64_t n);  // y += x

// In-place softmax of a row; returns nothing, handles -inf entries.
void softmax(float* x, int64_t n);

}  // namespace longctx::cpu
