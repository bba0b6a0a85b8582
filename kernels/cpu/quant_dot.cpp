#include "kernels/cpu/quant_dot.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/common/fp16.h"
#include "kernels/cpu/vec.h"
#include "kernels/cpu/x86_blocks.h"

namespace longctx::cpu {
namespace {

using kernels::BlockType;

// Every legacy block is read as unsigned codes u with w = d * u + c (Q8_0: signed codes, c = 0).
struct Unpacked {
  __m256i codes;
  float d;
  float c;
};

using x86::fifth_bits;
using x86::half_to_float;
using x86::nibbles;

template <BlockType T>
LC_AVX2 inline Unpacked unpack(const uint8_t* block) {
  if constexpr (T == BlockType::Q4_0) {
    auto b = kernels::load_block<kernels::BlockQ4_0>(block);
    float d = half_to_float(b.d);
    return {nibbles(block + 2), d, -8.0f * d};
  } else if constexpr (T == BlockType::Q4_1) {
    auto b = kernels::load_block<kernels::BlockQ4_1>(block);
    return {nibbles(block + 4), half_to_float(b.d), half_to_float(b.m)};
  } else if constexpr (T == BlockType::Q5_0) {
    auto b = kernels::load_block<kernels::BlockQ5_0>(block);
    float d = half_to_float(b.d);
    return {_mm256_or_si256(nibbles(block + 6), fifth_bits(block + 2)), d, -16.0f * d};
  } else if constexpr (T == BlockType::Q5_1) {
    auto b = kernels::load_block<kernels::BlockQ5_1>(block);
    return {_mm256_or_si256(nibbles(block + 8), fifth_bits(block + 4)), half_to_float(b.d),
            half_to_float(b.m)};
  } else {
    auto b = kernels::load_block<kernels::BlockQ8_0>(block);
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2)), half_to_float(b.d),
            0.0f};
  }
}

// Decoding streams every weight once per token: asking for the bytes 3 KiB ahead keeps the loads
// from waiting on memory (measured on the 2-core AVX-512 machine, tg128: no prefetch 96 t/s on
// SmolLM2, 384 B 101, 768 B 116, 1536 B 119, 3072 B 126, 6144 B 123; Gemma 3 30.5 -> 41.5).
constexpr int64_t kPrefetchBytes = 3072;

LC_AVX2 inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// 8 partial int32 sums of codes[i] * x[i] over a block of 32 (codes widened to 16 bits).
template <bool kSigned>
LC_AVX2 inline __m256i products_avx2(__m256i codes, const int16_t* x) {
  __m128i lo8 = _mm256_castsi256_si128(codes), hi8 = _mm256_extracti128_si256(codes, 1);
  __m256i lo = kSigned ? _mm256_cvtepi8_epi16(lo8) : _mm256_cvtepu8_epi16(lo8);
  __m256i hi = kSigned ? _mm256_cvtepi8_epi16(hi8) : _mm256_cvtepu8_epi16(hi8);
  __m256i xlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  __m256i xhi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16));
  return _mm256_add_epi32(_mm256_madd_epi16(lo, xlo), _mm256_madd_epi16(hi, xhi));
}

// Q4_0 and Q5_0 store codes with a fixed offset (-8, -16): read signed, they need no sum of x.
template <BlockType T>
constexpr bool kSignedCodes = T == BlockType::Q8_0 || T == BlockType::Q4_0 || T == BlockType::Q5_0;
template <BlockType T>
LC_AVX2 inline __m256i signed_codes(const Unpacked& u) {
  if constexpr (T == BlockType::Q4_0) return _mm256_sub_epi8(u.codes, _mm256_set1_epi8(8));
  if constexpr (T == BlockType::Q5_0) return _mm256_sub_epi8(u.codes, _mm256_set1_epi8(16));
  return u.codes;
}

// sum over blocks of d_w d_x sum(q x) (+ m_w d_x sum(x) for Q4_1 / Q5_1): codes times activations
// in integers. Two accumulators, even and odd blocks: a row of 20 blocks (Gemma's 640 columns)
// would otherwise wait on one chain of multiply-adds.
#define LC_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

// Byte i = 0x10 where bit i of the 32-bit mask is set: one masked move with AVX-512BW.
LC_VNNI inline __m256i fifth_bits_512(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  return _mm256_maskz_mov_epi8(__mmask32(bits), _mm256_set1_epi8(0x10));
}

template <BlockType T>
LC_VNNI inline Unpacked unpack_512(const uint8_t* block) {
  if constexpr (T == BlockType::Q5_0) {
    const float d = half_to_float(kernels::load_block<kernels::BlockQ5_0>(block).d);
    return {_mm256_or_si256(nibbles(block + 6), fifth_bits_512(block + 2)), d, -16.0f * d};
  } else if constexpr (T == BlockType::Q5_1) {
    auto b = kernels::load_block<kernels::BlockQ5_1>(block);
    return {_mm256_or_si256(nibbles(block + 8), fifth_bits_512(block + 4)), half_to_float(b.d),
            half_to_float(b.m)};
  } else {
    return unpack<T>(block);
  }
}

// With VNNI: vpdpwssd on 256-bit halves (512-bit forms were measured no faster here: 35.0 vs 35.9
// t/s, Qwen2.5-0.5B tg64), and the fifth bits of Q5_0 / Q5_1 from a mask register.
template <BlockType T>
LC_VNNI float dot_blocks_vnni(const uint8_t* w, const Q16Activations& x, int64_t n_blocks) {
  constexpr int kBytes = kernels::block_shape(T).bytes;
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  float offset_sum[2] = {0.0f, 0.0f};
  for (int64_t b = 0; b < n_blocks; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b * kBytes + kPrefetchBytes), _MM_HINT_T0);
    Unpacked u = unpack_512<T>(w + b * kBytes);
    const __m256i codes = signed_codes<T>(u);
    const __m128i lo8 = _mm256_castsi256_si128(codes), hi8 = _mm256_extracti128_si256(codes, 1);
    const __m256i lo = kSignedCodes<T> ? _mm256_cvtepi8_epi16(lo8) : _mm256_cvtepu8_epi16(lo8);
    const __m256i hi = kSignedCodes<T> ? _mm256_cvtepi8_epi16(hi8) : _mm256_cvtepu8_epi16(hi8);
    const int16_t* xb = x.q + 32 * b;
    __m256i p = _mm256_dpwssd_epi32(_mm256_setzero_si256(), lo,
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb)));
    p = _mm256_dpwssd_epi32(p, hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 16)));
    acc[b & 1] = _mm256_fmadd_ps(_mm256_set1_ps(u.d * x.d[b]), _mm256_cvtepi32_ps(p), acc[b & 1]);
    if constexpr (!kSignedCodes<T>) offset_sum[b & 1] += u.c * x.d[b] * float(x.sum[b]);
  }
  return hsum(_mm256_add_ps(acc[0], acc[1])) + (offset_sum[0] + offset_sum[1]);
}

template <BlockType T>
LC_AVX2 float dot_blocks_avx2(const uint8_t* w, const Q16Activations& x, int64_t n_blocks) {
  constexpr int kBytes = kernels::block_shape(T).bytes;
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  float offset_sum[2] = {0.0f, 0.0f};
  for (int64_t b = 0; b < n_blocks; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b * kBytes + kPrefetchBytes), _MM_HINT_T0);
    Unpacked u = unpack<T>(w + b * kBytes);
    __m256i p = products_avx2<kSignedCodes<T>>(signed_codes<T>(u), x.q + 32 * b);
    acc[b & 1] = _mm256_fmadd_ps(_mm256_set1_ps(u.d * x.d[b]), _mm256_cvtepi32_ps(p), acc[b & 1]);
    if constexpr (!kSignedCodes<T>) offset_sum[b & 1] += u.c * x.d[b] * float(x.sum[b]);
  }
  return hsum(_mm256_add_ps(acc[0], acc[1])) + (offset_sum[0] + offset_sum[1]);
}

// K-quants: super-blocks of 256 whose 32-element sub-blocks carry their own scales (and, for
// Q4_K, mins), so each sub-block meets one activation block as the legacy formats do.
LC_AVX2 inline __m256i madd_pair(__m256i lo, __m256i hi, const int16_t* x) {
  return _mm256_add_epi32(
      _mm256_madd_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))),
      _mm256_madd_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16))));
}

// w = d * sc * q - dmin * m, q 4-bit (gguf.md block_q4_K).
LC_AVX2 float dot_q4_k(const uint8_t* w, const Q16Activations& x, int64_t n_blocks) {
  constexpr int kBytes = int(sizeof(kernels::BlockQ4_K));
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps();
  float offset = 0.0f;
  for (int64_t s = 0; s < n_blocks / 8; ++s) {
    const uint8_t* blk = w + s * kBytes;
    _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBytes), _MM_HINT_T0);
    uint16_t dh, mh;
    std::memcpy(&dh, blk, 2);
    std::memcpy(&mh, blk + 2, 2);
    const float d = half_to_float(dh), dmin = half_to_float(mh);
    for (int c = 0; c < 4; ++c) {
      __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
      __m256i codes[2] = {_mm256_and_si256(raw, low4),
                          _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4)};
      for (int h = 0; h < 2; ++h) {
        int sc, m;
        kernels::k4_scale_min(blk + 4, 2 * c + h, sc, m);
        const int64_t b = 8 * s + 2 * c + h;
        __m256i lo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(codes[h]));
        __m256i hi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(codes[h], 1));
        __m256i p = madd_pair(lo, hi, x.q + 32 * b);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * float(sc) * x.d[b]), _mm256_cvtepi32_ps(p), acc);
        offset -= dmin * float(m) * x.d[b] * float(x.sum[b]);
      }
    }
  }
  return hsum(acc) + offset;
}

// w = d * sc * (q - 32), q 6-bit, one int8 scale per 16 elements (gguf.md block_q6_K).
LC_AVX2 float dot_q6_k(const uint8_t* w, const Q16Activations& x, int64_t n_blocks) {
  constexpr int kBytes = int(sizeof(kernels::BlockQ6_K));
  const __m256i low4 = _mm256_set1_epi8(0x0f), two_bits = _mm256_set1_epi8(0x30);
  const __m256i bias = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t s = 0; s < n_blocks / 8; ++s) {
    const uint8_t* blk = w + s * kBytes;
    _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBytes), _MM_HINT_T0);
    uint16_t dh;
    std::memcpy(&dh, blk + 208, 2);
    const float d = half_to_float(dh);
    const auto* scales = reinterpret_cast<const int8_t*>(blk + 192);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = blk + 64 * half;
      __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * half));
      __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, low4),
                          _mm256_and_si256(_mm256_slli_epi16(qh, 4), two_bits)),
          _mm256_or_si256(_mm256_and_si256(ql1, low4),
                          _mm256_and_si256(_mm256_slli_epi16(qh, 2), two_bits)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                          _mm256_and_si256(qh, two_bits)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits)),
      };
      for (int j = 0; j < 4; ++j) {
        const int64_t b = 8 * s + 4 * half + j;
        __m256i codes = _mm256_sub_epi8(q[j], bias);
        __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(codes));
        __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(codes, 1));
        const int16_t* xq = x.q + 32 * b;
        __m256i plo =
            _mm256_madd_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq)));
        __m256i phi =
            _mm256_madd_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 16)));
        const float dx = d * x.d[b];
        const int8_t* sc = scales + 8 * half + 2 * j;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dx * float(sc[0])), _mm256_cvtepi32_ps(plo), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dx * float(sc[1])), _mm256_cvtepi32_ps(phi), acc);
      }
    }
  }
  return hsum(acc);
}

bool detect_avx2() {
  __builtin_cpu_init();
  return detected_isa() != Isa::Scalar && __builtin_cpu_supports("avx2") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
// LONGCTX_CPU_ISA caps these too (vec.h), so the fallbacks are tested on this machine.
bool detect_vnni() {
  return detect_avx2() && detected_isa() == Isa::Avx512 && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
}
const bool kAvx2 = detect_avx2();
const bool kVnni = detect_vnni();

}  // namespace

bool has_integer_dot(BlockType type) {
  if (!kAvx2) return false;
  switch (type) {
    case BlockType::Q4_0:
    case BlockType::Q4_1:
    case BlockType::Q5_0:
    case BlockType::Q5_1:
    case BlockType::Q8_0:
    case BlockType::Q4_K:
    case BlockType::Q6_K:
      return true;
    default:
      return false;
  }
}

namespace {

// One block of 32: d = max|x| / 32767, q = x / d rounded to nearest even (the processor's default
// rounding, as std::nearbyint), so every variant writes the same codes.
void quantize_scalar(const float* x, int64_t n, Q16Activations out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + 32 * b;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));  // inline, not libm
    float d = amax / 32767.0f;
    float id = d > 0 ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      int q = int(std::nearbyint(xb[i] * id));
      out.q[32 * b + i] = int16_t(q);
      sum += q;
    }
    out.d[b] = d;
    out.sum[b] = sum;
  }
}

__attribute__((target("avx512f,avx512bw"))) void quantize_avx512(const float* x, int64_t n,
                                                                 Q16Activations out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const __m512 lo = _mm512_loadu_ps(x + 32 * b), hi = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
    const float d = amax / 32767.0f;
    const __m512 id = _mm512_set1_ps(d > 0 ? 1.0f / d : 0.0f);
    const __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, id));
    const __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, id));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.q + 32 * b), _mm512_cvtepi32_epi16(qlo));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.q + 32 * b + 16),
                        _mm512_cvtepi32_epi16(qhi));
    out.d[b] = d;
    out.sum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(qlo, qhi));
  }
}

LC_AVX2 void quantize_avx2(const float* x, int64_t n, Q16Activations out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / 32; ++b) {
    __m256 v[4], m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + 32 * b + 8 * i);
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float d = _mm_cvtss_f32(m4) / 32767.0f;
    const __m256 id = _mm256_set1_ps(d > 0 ? 1.0f / d : 0.0f);
    __m256i q[4], sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));
      sum = _mm256_add_epi32(sum, q[i]);
    }
    for (int h = 0; h < 2; ++h) {  // packs interleaves 128-bit lanes; the permute restores order
      const __m256i packed =
          _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2 * h], q[2 * h + 1]), 0xd8);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.q + 32 * b + 16 * h), packed);
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    out.d[b] = d;
    out.sum[b] = _mm_cvtsi128_si32(s4);
  }
}

}  // namespace

void quantize_q16(const float* x, int64_t n, Q16Activations out) {
  static const Isa isa = detected_isa();
  if (isa == Isa::Avx512)
    quantize_avx512(x, n, out);
  else if (isa == Isa::Avx2)
    quantize_avx2(x, n, out);
  else
    quantize_scalar(x, n, out);
}

float dot_q16(BlockType type, const uint8_t* w, const Q16Activations& x, int64_t n_blocks) {
#define LC_DOT_CASE(T)                                           \
  case BlockType::T:                                             \
    return kVnni ? dot_blocks_vnni<BlockType::T>(w, x, n_blocks) \
                 : dot_blocks_avx2<BlockType::T>(w, x, n_blocks);
  switch (type) {
    LC_DOT_CASE(Q4_0)
    LC_DOT_CASE(Q4_1)
    LC_DOT_CASE(Q5_0)
    LC_DOT_CASE(Q5_1)
    LC_DOT_CASE(Q8_0)
    case BlockType::Q4_K:
      return dot_q4_k(w, x, n_blocks);
    case BlockType::Q6_K:
      return dot_q6_k(w, x, n_blocks);
    default:
      return 0.0f;
  }
#undef LC_DOT_CASE
}

}  // namespace longctx::cpu
