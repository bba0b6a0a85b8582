#include "kernels/cpu/quant_dot.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/common/fp16.h"

namespace longctx::cpu {
namespace {

using kernels::BlockType;

// Every legacy block is read as unsigned codes u with w = d * u + c (Q8_0: signed codes, c = 0).
struct Unpacked {
  __m256i codes;
  float d;
  float c;
};

#define LC_AVX2 __attribute__((target("avx2,fma,f16c")))

// Half to float in one instruction (exact, subnormals included, as kernels::fp16_to_float).
LC_AVX2 inline float half_to_float(uint16_t h) {
  return _cvtsh_ss(h);
}

LC_AVX2 inline __m256i nibbles(const uint8_t* qs) {
  __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0f));
  __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0f));
  return _mm256_set_m128i(hi, lo);  // elements 0..15 low nibbles, 16..31 high nibbles
}

// Byte i = 0x10 when bit i of the 32-bit mask is set.
LC_AVX2 inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(int(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i select = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  __m256i is_set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
  return _mm256_and_si256(is_set, _mm256_set1_epi8(0x10));
}

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
template <bool kSigned, bool kVnni>
__attribute__((target("avx2,fma,f16c,avx512vnni,avx512vl"))) inline __m256i products(
    __m256i codes, const int16_t* x) {
  __m128i lo8 = _mm256_castsi256_si128(codes), hi8 = _mm256_extracti128_si256(codes, 1);
  __m256i lo = kSigned ? _mm256_cvtepi8_epi16(lo8) : _mm256_cvtepu8_epi16(lo8);
  __m256i hi = kSigned ? _mm256_cvtepi8_epi16(hi8) : _mm256_cvtepu8_epi16(hi8);
  __m256i xlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  __m256i xhi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16));
  if constexpr (kVnni) {
    return _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(_mm256_setzero_si256(), lo, xlo), hi, xhi);
  } else {
    return _mm256_add_epi32(_mm256_madd_epi16(lo, xlo), _mm256_madd_epi16(hi, xhi));
  }
}

template <bool kSigned>
LC_AVX2 inline __m256i products_avx2(__m256i codes, const int16_t* x) {
  __m128i lo8 = _mm256_castsi256_si128(codes), hi8 = _mm256_extracti128_si256(codes, 1);
  __m256i lo = kSigned ? _mm256_cvtepi8_epi16(lo8) : _mm256_cvtepu8_epi16(lo8);
  __m256i hi = kSigned ? _mm256_cvtepi8_epi16(hi8) : _mm256_cvtepu8_epi16(hi8);
  __m256i xlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  __m256i xhi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16));
  return _mm256_add_epi32(_mm256_madd_epi16(lo, xlo), _mm256_madd_epi16(hi, xhi));
}

// sum over blocks of d_w d_x sum(u x) + c_w d_x sum(x): codes times activations in integers.
template <BlockType T>
__attribute__((target("avx2,fma,f16c,avx512vnni,avx512vl"))) float dot_blocks_vnni(
    const uint8_t* w, const Q16Activations& x, int64_t n_blocks) {
  constexpr int kBytes = kernels::block_shape(T).bytes;
  __m256 acc = _mm256_setzero_ps();
  float offset_sum = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b * kBytes + kPrefetchBytes), _MM_HINT_T0);
    Unpacked u = unpack<T>(w + b * kBytes);
    __m256i p = products<T == BlockType::Q8_0, true>(u.codes, x.q + 32 * b);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(u.d * x.d[b]), _mm256_cvtepi32_ps(p), acc);
    offset_sum += u.c * x.d[b] * float(x.sum[b]);
  }
  return hsum(acc) + offset_sum;
}

template <BlockType T>
LC_AVX2 float dot_blocks_avx2(const uint8_t* w, const Q16Activations& x, int64_t n_blocks) {
  constexpr int kBytes = kernels::block_shape(T).bytes;
  __m256 acc = _mm256_setzero_ps();
  float offset_sum = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b * kBytes + kPrefetchBytes), _MM_HINT_T0);
    Unpacked u = unpack<T>(w + b * kBytes);
    __m256i p = products_avx2<T == BlockType::Q8_0>(u.codes, x.q + 32 * b);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(u.d * x.d[b]), _mm256_cvtepi32_ps(p), acc);
    offset_sum += u.c * x.d[b] * float(x.sum[b]);
  }
  return hsum(acc) + offset_sum;
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
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}
bool detect_vnni() {
  return detect_avx2() && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("avx512vl");
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

void quantize_q16(const float* x, int64_t n, Q16Activations out) {
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
