#include "kernels/cpu/ops.h"

#include <cmath>

#include "kernels/common/rope.h"
#include "kernels/cpu/vec.h"
#include "kernels/cpu/vmath.h"

namespace longctx::cpu {

void rms_norm(const float* x, const float* w, float eps, int64_t n, float* y) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  float inv = float(1.0 / std::sqrt(sum / double(n) + double(eps)));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* inv_freq,
          float amplitude, int64_t pos, RopeLayout layout) {
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    double angle = double(pos) * double(inv_freq[i]);
    // As transformers: cos and sin in float, then times the attention factor.
    float c = float(std::cos(angle)) * amplitude, s = float(std::sin(angle)) * amplitude;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + h * head_dim;
      int64_t a = layout == RopeLayout::Pairs ? 2 * i : i;
      int64_t b = layout == RopeLayout::Pairs ? 2 * i + 1 : i + half;
      float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

void rope_table(float* x, int64_t head_dim, int64_t n_rot, const float* cos, const float* sin,
                RopeLayout layout) {
  kernels::rotate_pairs(x, n_rot, cos, sin, layout == RopeLayout::Halves);
  (void)head_dim;
}

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;

// silu(g) = g / (1 + exp(-g)); gelu_tanh(g) = 0.5 g (1 + tanh(u)) = g / (1 + exp(-2u)) with
// u = sqrt(2/pi) (g + 0.044715 g^3): one exponential each, sixteen at a time.
template <bool Gelu>
__attribute__((target("avx512f"))) void gated_avx512(float* gate, const float* up, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 g = _mm512_loadu_ps(gate + i);
    __m512 z;  // the exponent's argument
    if constexpr (Gelu) {
      __m512 g3 = _mm512_mul_ps(_mm512_mul_ps(g, g), g);
      __m512 u = _mm512_mul_ps(_mm512_set1_ps(kSqrt2OverPi),
                               _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), g3, g));
      z = _mm512_mul_ps(_mm512_set1_ps(-2.0f), u);
    } else {
      z = _mm512_sub_ps(_mm512_setzero_ps(), g);
    }
    __m512 act = _mm512_div_ps(g, _mm512_add_ps(one, exp_avx512(z)));
    _mm512_storeu_ps(gate + i, _mm512_mul_ps(act, _mm512_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    float g = gate[i];
    float z = Gelu ? -2.0f * kSqrt2OverPi * (g + 0.044715f * g * g * g) : -g;
    gate[i] = g / (1.0f + std::exp(z)) * up[i];
  }
}

bool avx512() {
  return detected_isa() == Isa::Avx512;
}

}  // namespace

void swiglu(float* gate, const float* up, int64_t n) {
  if (avx512()) return gated_avx512<false>(gate, up, n);
  for (int64_t i = 0; i < n; ++i) {
    float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void geglu_tanh(float* gate, const float* up, int64_t n) {
  if (avx512()) return gated_avx512<true>(gate, up, n);
  // GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  for (int64_t i = 0; i < n; ++i) {
    float g = gate[i];
    gate[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
  }
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void softmax(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;  // NaN skipped, as fmax
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::isinf(max) ? 0.0f : std::exp(x[i] - max);
    sum += x[i];
  }
  float inv = sum > 0 ? float(1.0 / sum) : 0.0f;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace longctx::cpu
