#include "kernels/cpu/vec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <immintrin.h>

// GCC 12's AVX-512 headers start some intrinsics (_mm512_reduce_add_ps) from undefined vectors,
// which its own uninitialized-value warnings then report; nothing here reads an undefined lane.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/common/fp16.h"

namespace longctx::cpu {
namespace {

// --- scalar -----------------------------------------------------------------------------------
float dot_scalar(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
float dot_f16_scalar(const float* a, const uint16_t* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * kernels::fp16_to_float(b[i]);
  return s;
}
void axpy_f16_scalar(float alpha, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * kernels::fp16_to_float(x[i]);
}

// --- AVX2 + FMA + F16C ------------------------------------------------------------------------
__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma,f16c"))) float dot_f16_avx2(const float* a, const uint16_t* b,
                                                            int64_t n) {
  __m256 s0 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 bf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), bf, s0);
  }
  float s = hsum256(s0);
  for (; i < n; ++i) s += a[i] * kernels::fp16_to_float(b[i]);
  return s;
}

__attribute__((target("avx2,fma,f16c"))) void axpy_f16_avx2(float alpha, const uint16_t* x,
                                                            float* y, int64_t n) {
  __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 xf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, xf, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += alpha * kernels::fp16_to_float(x[i]);
}

// --- AVX-512 ----------------------------------------------------------------------------------
__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Up to 8 query rows at once: each 16 dimensions of the bounds are loaded once and met by every
// row's running sum in its own register.
__attribute__((target("avx512f"))) float bound_dot_max_avx512(const float* q, int64_t n_q,
                                                              const float* lo, const float* hi,
                                                              int64_t n) {
  float best = -INFINITY;
  for (int64_t r0 = 0; r0 < n_q; r0 += 8) {
    const int rows = int(std::min<int64_t>(8, n_q - r0));
    __m512 acc[8];
    for (int r = 0; r < 8; ++r) acc[r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m512 l = _mm512_loadu_ps(lo + i), h = _mm512_loadu_ps(hi + i);
      for (int r = 0; r < rows; ++r) {
        const __m512 qv = _mm512_loadu_ps(q + (r0 + r) * n + i);
        acc[r] = _mm512_add_ps(acc[r], _mm512_max_ps(_mm512_mul_ps(qv, l), _mm512_mul_ps(qv, h)));
      }
    }
    for (int r = 0; r < rows; ++r) {
      const float* qr = q + (r0 + r) * n;
      float s = _mm512_reduce_add_ps(acc[r]);
      for (int64_t j = i; j < n; ++j) s += std::max(qr[j] * lo[j], qr[j] * hi[j]);
      best = std::max(best, s);
    }
  }
  return best;
}

__attribute__((target("avx512f"))) float dot_f16_avx512(const float* a, const uint16_t* b,
                                                        int64_t n) {
  __m512 s0 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 bf = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i)));
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), bf, s0);
  }
  float s = _mm512_reduce_add_ps(s0);
  for (; i < n; ++i) s += a[i] * kernels::fp16_to_float(b[i]);
  return s;
}

__attribute__((target("avx512f"))) void axpy_f16_avx512(float alpha, const uint16_t* x, float* y,
                                                        int64_t n) {
  __m512 va = _mm512_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 xf = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, xf, _mm512_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += alpha * kernels::fp16_to_float(x[i]);
}

__attribute__((target("avx2,fma,f16c"))) void f16_to_f32_avx2(const uint16_t* x, float* y,
                                                              int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  }
  for (; i < n; ++i) y[i] = kernels::fp16_to_float(x[i]);
}

__attribute__((target("avx512f"))) void f16_to_f32_avx512(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
  }
  for (; i < n; ++i) y[i] = kernels::fp16_to_float(x[i]);
}

// Plain loops the compiler vectorizes once per instruction set (GCC function multiversioning).
__attribute__((target_clones("avx512f", "avx2", "default"))) void axpy_f32_clones(float alpha,
                                                                                  const float* x,
                                                                                  float* y,
                                                                                  int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// Sixteen independent sums (one per lane), so the loop vectorizes without reassociating a single
// float sum; then added up.
__attribute__((target_clones("avx512f", "avx2", "default"))) float bound_dot_clones(const float* q,
                                                                                    const float* lo,
                                                                                    const float* hi,
                                                                                    int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int l = 0; l < 16; ++l) {
      const float a = q[i + l] * lo[i + l], b = q[i + l] * hi[i + l];
      acc[l] += a > b ? a : b;
    }
  }
  float s = 0.0f;
  for (int l = 0; l < 16; ++l) s += acc[l];
  for (; i < n; ++i) s += std::max(q[i] * lo[i], q[i] * hi[i]);
  return s;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void scale_f32_clones(float* y,
                                                                                   float alpha,
                                                                                   int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= alpha;
}

// One block at a time: the scale in float, then 32 (or 2 x 16) conversions and products that the
// compiler vectorizes; the same float operations as kernels::dequantize_block.
__attribute__((target_clones("avx512f", "avx2", "default"))) void q8_0_rows_clones(
    const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* blk = blocks + b * 34;
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const float d = kernels::fp16_to_float(dh);
    const int8_t* q = reinterpret_cast<const int8_t*>(blk + 2);
    float* out = y + b * 32;
    for (int j = 0; j < 32; ++j) out[j] = float(q[j]) * d;
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void q4_0_rows_clones(
    const uint8_t* blocks, float* y, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* blk = blocks + b * 18;
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const float d = kernels::fp16_to_float(dh);
    const uint8_t* q = blk + 2;
    float* out = y + b * 32;
    for (int j = 0; j < 16; ++j) {
      out[j] = d * float(int(q[j] & 0x0f) - 8);
      out[j + 16] = d * float(int(q[j] >> 4) - 8);
    }
  }
}

void dot_4x4_scalar(const float* const w[4], const float* x, int64_t xs, int64_t n,
                    float out[4][4]) {
  for (int r = 0; r < 4; ++r) {
    for (int t = 0; t < 4; ++t) out[r][t] = dot_scalar(w[r], x + t * xs, n);
  }
}

__attribute__((target("avx2,fma"))) void dot_4x4_avx2(const float* const w[4], const float* x,
                                                      int64_t xs, int64_t n, float out[4][4]) {
  __m256 acc[4][4];
  for (auto& row : acc) {
    for (auto& a : row) a = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 xv[4];
    for (int t = 0; t < 4; ++t) xv[t] = _mm256_loadu_ps(x + t * xs + i);
    for (int r = 0; r < 4; ++r) {
      __m256 wv = _mm256_loadu_ps(w[r] + i);
      for (int t = 0; t < 4; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    for (int t = 0; t < 4; ++t) {
      float s = hsum256(acc[r][t]);
      for (int64_t j = i; j < n; ++j) s += w[r][j] * x[t * xs + j];
      out[r][t] = s;
    }
  }
}

__attribute__((target("avx512f"))) void dot_4x4_avx512(const float* const w[4], const float* x,
                                                       int64_t xs, int64_t n, float out[4][4]) {
  __m512 acc[4][4];
  for (auto& row : acc) {
    for (auto& a : row) a = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 xv[4];
    for (int t = 0; t < 4; ++t) xv[t] = _mm512_loadu_ps(x + t * xs + i);
    for (int r = 0; r < 4; ++r) {
      __m512 wv = _mm512_loadu_ps(w[r] + i);
      for (int t = 0; t < 4; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    for (int t = 0; t < 4; ++t) {
      float s = _mm512_reduce_add_ps(acc[r][t]);
      for (int64_t j = i; j < n; ++j) s += w[r][j] * x[t * xs + j];
      out[r][t] = s;
    }
  }
}

__attribute__((target("avx512f"))) void dot_4x6_avx512(const float* const w[4], const float* x,
                                                       int64_t xs, int64_t n, float out[4][6]) {
  __m512 acc[4][6];
  for (auto& row : acc) {
    for (auto& a : row) a = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 xv[6];
    for (int t = 0; t < 6; ++t) xv[t] = _mm512_loadu_ps(x + t * xs + i);
    for (int r = 0; r < 4; ++r) {
      __m512 wv = _mm512_loadu_ps(w[r] + i);
      for (int t = 0; t < 6; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    for (int t = 0; t < 6; ++t) {
      float s = _mm512_reduce_add_ps(acc[r][t]);
      for (int64_t j = i; j < n; ++j) s += w[r][j] * x[t * xs + j];
      out[r][t] = s;
    }
  }
}

Isa detect() {
  __builtin_cpu_init();
  Isa isa = Isa::Scalar;
  if (__builtin_cpu_supports("avx512f")) {
    isa = Isa::Avx512;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    isa = Isa::Avx2;
  }
  // LONGCTX_CPU_ISA=scalar|avx2 caps the hand-written paths (tests run the fallbacks with it).
  if (const char* cap = std::getenv("LONGCTX_CPU_ISA")) {
    if (std::strcmp(cap, "scalar") == 0) isa = Isa::Scalar;
    if (std::strcmp(cap, "avx2") == 0 && isa == Isa::Avx512) isa = Isa::Avx2;
  }
  return isa;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();  // on first use: safe from other files' static initialisers
  return isa;
}

namespace {
const Isa kIsa = detected_isa();
}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return "AVX-512";
    case Isa::Avx2:
      return "AVX2";
    case Isa::Scalar:
      return "scalar";
  }
  return "?";
}

float dot_f32(const float* a, const float* b, int64_t n) {
  switch (kIsa) {
    case Isa::Avx512:
      return dot_avx512(a, b, n);
    case Isa::Avx2:
      return dot_avx2(a, b, n);
    default:
      return dot_scalar(a, b, n);
  }
}

bool dot_4x6(const float* const w[4], const float* x, int64_t x_stride, int64_t n,
             float out[4][6]) {
  if (kIsa != Isa::Avx512) return false;
  dot_4x6_avx512(w, x, x_stride, n, out);
  return true;
}

void dot_4x4(const float* const w[4], const float* x, int64_t x_stride, int64_t n,
             float out[4][4]) {
  switch (kIsa) {
    case Isa::Avx512:
      dot_4x4_avx512(w, x, x_stride, n, out);
      return;
    case Isa::Avx2:
      dot_4x4_avx2(w, x, x_stride, n, out);
      return;
    default:
      dot_4x4_scalar(w, x, x_stride, n, out);
  }
}

float dot_f32_f16(const float* a, const uint16_t* b, int64_t n) {
  switch (kIsa) {
    case Isa::Avx512:
      return dot_f16_avx512(a, b, n);
    case Isa::Avx2:
      return dot_f16_avx2(a, b, n);
    default:
      return dot_f16_scalar(a, b, n);
  }
}

void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n) {
  switch (kIsa) {
    case Isa::Avx512:
      axpy_f16_avx512(alpha, x, y, n);
      return;
    case Isa::Avx2:
      axpy_f16_avx2(alpha, x, y, n);
      return;
    default:
      axpy_f16_scalar(alpha, x, y, n);
  }
}

void scale_f32(float* y, float alpha, int64_t n) {
  scale_f32_clones(y, alpha, n);
}

void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
  axpy_f32_clones(alpha, x, y, n);
}

float bound_dot(const float* q, const float* lo, const float* hi, int64_t n) {
  return bound_dot_clones(q, lo, hi, n);
}

float bound_dot_max(const float* q, int64_t n_q, const float* lo, const float* hi, int64_t n) {
  if (kIsa == Isa::Avx512) return bound_dot_max_avx512(q, n_q, lo, hi, n);
  float best = -INFINITY;
  for (int64_t r = 0; r < n_q; ++r) best = std::max(best, bound_dot_clones(q + r * n, lo, hi, n));
  return best;
}

void q8_0_to_f32_row(const uint8_t* blocks, float* y, int64_t n) {
  q8_0_rows_clones(blocks, y, n);
}

void q4_0_to_f32_row(const uint8_t* blocks, float* y, int64_t n) {
  q4_0_rows_clones(blocks, y, n);
}

void f16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
  switch (kIsa) {
    case Isa::Avx512:
      f16_to_f32_avx512(x, y, n);
      return;
    case Isa::Avx2:
      f16_to_f32_avx2(x, y, n);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = kernels::fp16_to_float(x[i]);
  }
}

void f32_to_f16_row(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = kernels::float_to_fp16(x[i]);
}

}  // namespace longctx::cpu
