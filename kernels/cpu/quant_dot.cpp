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
using x86::half_to_float;

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

// The legacy blocks (gguf.md block_q4_0 ... block_q8_0): a half scale d, for Q4_1 / Q5_1 a half
// offset m right after it (w = d * u + m, u unsigned), for Q5_* 32 fifth bits, then the codes.
// Q4_0 and Q5_0 store codes with a fixed offset (-8, -16) and Q8_0 signed bytes: read signed
// (w = d * s), they need no sum of x.
template <BlockType T>
constexpr bool kSignedCodes = T == BlockType::Q8_0 || T == BlockType::Q4_0 || T == BlockType::Q5_0;
template <BlockType T>
constexpr bool kFifthBit = T == BlockType::Q5_0 || T == BlockType::Q5_1;
template <BlockType T>
constexpr int kBlockBytes = kernels::block_shape(T).bytes;
template <BlockType T>
constexpr int kFifthAt = T == BlockType::Q5_1 ? 4 : 2;  // offset of qh
template <BlockType T>
constexpr int kCodesAt = T == BlockType::Q4_0   ? 2
                         : T == BlockType::Q4_1 ? 4
                         : T == BlockType::Q5_0 ? 6
                         : T == BlockType::Q5_1 ? 8
                                                : 2;

// One block's 32 codes widened to int16: elements 0..15 and 16..31.
struct Codes16 {
  __m256i lo, hi;
};

// The codes without their fifth bits: nibbles (byte j holds elements j and j + 16) or Q8_0's bytes.
template <BlockType T>
LC_AVX2 inline Codes16 low_codes(const uint8_t* block) {
  const uint8_t* qs = block + kCodesAt<T>;
  if constexpr (T == BlockType::Q8_0) {
    return {_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs))),
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16)))};
  } else {
    const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    return {_mm256_and_si256(v, _mm256_set1_epi16(0x0f)), _mm256_srli_epi16(v, 4)};
  }
}

LC_AVX2 inline uint32_t load_u32(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  return bits;
}

// Bit i of the field is element i's fifth bit: 16 in the lanes whose bit is set.
LC_AVX2 inline Codes16 fifth_bits16(uint32_t bits) {
  const __m256i select = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096,
                                           8192, 16384, -32768);
  const __m256i sixteen = _mm256_set1_epi16(16);
  const __m256i lo = _mm256_and_si256(_mm256_set1_epi16(int16_t(bits)), select);
  const __m256i hi = _mm256_and_si256(_mm256_set1_epi16(int16_t(bits >> 16)), select);
  return {_mm256_and_si256(_mm256_cmpeq_epi16(lo, select), sixteen),
          _mm256_and_si256(_mm256_cmpeq_epi16(hi, select), sixteen)};
}

// The codes as the dot multiplies them: fifth bits joined, fixed offsets taken out.
template <BlockType T>
LC_AVX2 inline Codes16 finish_codes(Codes16 c, Codes16 fifth) {
  if constexpr (kFifthBit<T>)
    c = {_mm256_or_si256(c.lo, fifth.lo), _mm256_or_si256(c.hi, fifth.hi)};
  constexpr int16_t kOffset = T == BlockType::Q4_0 ? 8 : T == BlockType::Q5_0 ? 16 : 0;
  if constexpr (kOffset != 0) {
    const __m256i o = _mm256_set1_epi16(kOffset);
    c = {_mm256_sub_epi16(c.lo, o), _mm256_sub_epi16(c.hi, o)};
  }
  return c;
}

// [d_w d_x, m_w d_x sum(x)] in lanes 0 and 1 (lane 1 meaningful only for Q4_1 / Q5_1): both halves
// of the block's header converted by one instruction.
LC_AVX2 inline __m128 block_factors(const uint8_t* block, __m128 x_factors) {
  return _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(int(load_u32(block)))), x_factors);
}
template <BlockType T>
LC_AVX2 inline __m128 activation_factors(const Q16Activations& x, int64_t b) {
  if constexpr (kSignedCodes<T>) return _mm_set_ss(x.d[b]);  // no offset: no sum needed
  return _mm_setr_ps(x.d[b], x.d[b] * float(x.sum[b]), 0.0f, 0.0f);
}

// Rows r < R of a matrix (row r at w + r * row_bytes) against one activation row: each activation
// block is loaded once for all R rows. Every row has its own accumulators and the same sequence of
// operations whatever R is, so a row's result does not depend on the rows grouped with it.
#define LC_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

template <BlockType T, int R>
LC_VNNI void dot_rows_vnni(const uint8_t* w, int64_t row_bytes, const Q16Activations& x,
                           int64_t n_blocks, float* out) {
  constexpr int kBytes = kBlockBytes<T>;
  const __m256i sixteen = _mm256_set1_epi16(16);
  __m256 acc[R];
  __m128 offset[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm256_setzero_ps();
    offset[r] = _mm_setzero_ps();
  }
  for (int64_t b = 0; b < n_blocks; ++b) {
    const __m256i xlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + 32 * b));
    const __m256i xhi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + 32 * b + 16));
    const __m128 xf = activation_factors<T>(x, b);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* block = w + r * row_bytes + b * kBytes;
      _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetchBytes), _MM_HINT_T0);
      Codes16 fifth{};
      if constexpr (kFifthBit<T>) {  // one masked move per half instead of the AVX2 compare
        const uint32_t bits = load_u32(block + kFifthAt<T>);
        fifth = {_mm256_maskz_mov_epi16(__mmask16(bits), sixteen),
                 _mm256_maskz_mov_epi16(__mmask16(bits >> 16), sixteen)};
      }
      const Codes16 c = finish_codes<T>(low_codes<T>(block), fifth);
      const __m256i p =
          _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(_mm256_setzero_si256(), c.lo, xlo), c.hi, xhi);
      const __m128 f = block_factors(block, xf);
      acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(f), _mm256_cvtepi32_ps(p), acc[r]);
      if constexpr (!kSignedCodes<T>) offset[r] = _mm_add_ps(offset[r], f);
    }
  }
  for (int r = 0; r < R; ++r)
    out[r] = hsum(acc[r]) + (kSignedCodes<T> ? 0.0f : _mm_cvtss_f32(_mm_movehdup_ps(offset[r])));
}

// The same without VNNI: vpmaddwd and an add.
template <BlockType T, int R>
LC_AVX2 void dot_rows_avx2(const uint8_t* w, int64_t row_bytes, const Q16Activations& x,
                           int64_t n_blocks, float* out) {
  constexpr int kBytes = kBlockBytes<T>;
  __m256 acc[R];
  __m128 offset[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm256_setzero_ps();
    offset[r] = _mm_setzero_ps();
  }
  for (int64_t b = 0; b < n_blocks; ++b) {
    const __m256i xlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + 32 * b));
    const __m256i xhi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + 32 * b + 16));
    const __m128 xf = activation_factors<T>(x, b);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* block = w + r * row_bytes + b * kBytes;
      _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetchBytes), _MM_HINT_T0);
      Codes16 fifth{};
      if constexpr (kFifthBit<T>) fifth = fifth_bits16(load_u32(block + kFifthAt<T>));
      const Codes16 c = finish_codes<T>(low_codes<T>(block), fifth);
      const __m256i p =
          _mm256_add_epi32(_mm256_madd_epi16(c.lo, xlo), _mm256_madd_epi16(c.hi, xhi));
      const __m128 f = block_factors(block, xf);
      acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(f), _mm256_cvtepi32_ps(p), acc[r]);
      if constexpr (!kSignedCodes<T>) offset[r] = _mm_add_ps(offset[r], f);
    }
  }
  for (int r = 0; r < R; ++r)
    out[r] = hsum(acc[r]) + (kSignedCodes<T> ? 0.0f : _mm_cvtss_f32(_mm_movehdup_ps(offset[r])));
}

// K-quants: super-blocks of 256 whose 32-element sub-blocks carry their own scales (and, for
// Q4_K, mins), so each sub-block meets one activation block as the legacy formats do. A super-
// block's factors are unpacked into vectors once, and lane j scales sub-block j.
LC_AVX2 inline __m256i madd_pair(__m256i lo, __m256i hi, const int16_t* x) {
  return _mm256_add_epi32(
      _mm256_madd_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))),
      _mm256_madd_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16))));
}

LC_AVX2 inline __m256 bytes_to_floats(uint64_t bytes) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(bytes))));
}

LC_AVX2 inline __m256 lane(__m256 v, int j) {
  return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(j));
}

// The eight 6-bit scales and minimums of a Q4_K super-block, kernels::k4_scale_min on 32-bit words:
// sub-blocks 0..3 take the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); 4..7 take a nibble
// of bytes 8..11 and, as bits 4-5, the top 2 bits of bytes 0..3 (scales) and 4..7 (mins).
LC_AVX2 inline void k4_factors(const uint8_t* q, __m256& scales, __m256& mins) {
  const uint32_t a = load_u32(q), b = load_u32(q + 4), c = load_u32(q + 8);
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kTop2 = 0x03030303;
  const uint32_t sc_hi = (c & kLow4) | (((a >> 6) & kTop2) << 4);
  const uint32_t m_hi = ((c >> 4) & kLow4) | (((b >> 6) & kTop2) << 4);
  scales = bytes_to_floats(uint64_t(a & kLow6) | uint64_t(sc_hi) << 32);
  mins = bytes_to_floats(uint64_t(b & kLow6) | uint64_t(m_hi) << 32);
}

// w = d * sc * q - dmin * m, q 4-bit (gguf.md block_q4_K), R rows at a time as the legacy blocks.
template <int R>
LC_AVX2 void dot_q4_k_rows(const uint8_t* w, int64_t row_bytes, const Q16Activations& x,
                           int64_t n_blocks, float* out) {
  constexpr int kBytes = int(sizeof(kernels::BlockQ4_K));
  const __m256i low4 = _mm256_set1_epi16(0x0f);
  __m256 acc[R], offset[R];
  for (int r = 0; r < R; ++r) acc[r] = offset[r] = _mm256_setzero_ps();
  for (int64_t s = 0; s < n_blocks / 8; ++s) {
    const __m256 xd = _mm256_loadu_ps(x.d + 8 * s);
    const __m256 xs = _mm256_mul_ps(
        xd,
        _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.sum + 8 * s))));
    const int16_t* xq = x.q + 256 * s;
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + r * row_bytes + s * kBytes;
      _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBytes), _MM_HINT_T0);
      const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(int(load_u32(blk))));  // d, dmin
      __m256 sc, m;
      k4_factors(blk + 4, sc, m);
      const __m256 scale = _mm256_mul_ps(_mm256_mul_ps(_mm256_broadcastss_ps(dm), xd), sc);
      const __m256 dmin = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
      offset[r] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, m), xs, offset[r]);
      for (int c = 0; c < 4; ++c) {  // 32 bytes: sub-block 2c in the low nibbles, 2c + 1 high
        const uint8_t* qs = blk + 16 + 32 * c;
        const __m256i v0 =
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
        const __m256i v1 =
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16)));
        const __m256i p0 =
            madd_pair(_mm256_and_si256(v0, low4), _mm256_and_si256(v1, low4), xq + 64 * c);
        const __m256i p1 =
            madd_pair(_mm256_srli_epi16(v0, 4), _mm256_srli_epi16(v1, 4), xq + 64 * c + 32);
        acc[r] = _mm256_fmadd_ps(lane(scale, 2 * c), _mm256_cvtepi32_ps(p0), acc[r]);
        acc[r] = _mm256_fmadd_ps(lane(scale, 2 * c + 1), _mm256_cvtepi32_ps(p1), acc[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]) + hsum(offset[r]);
}

// w = d * sc * (q - 32), q 6-bit, one int8 scale per 16 elements (gguf.md block_q6_K): the 16
// scales of a super-block as two vectors, scale k for half k % 2 of sub-block k / 2.
template <int R>
LC_AVX2 void dot_q6_k_rows(const uint8_t* w, int64_t row_bytes, const Q16Activations& x,
                           int64_t n_blocks, float* out) {
  constexpr int kBytes = int(sizeof(kernels::BlockQ6_K));
  const __m256i low4 = _mm256_set1_epi8(0x0f), two_bits = _mm256_set1_epi8(0x30);
  const __m256i bias = _mm256_set1_epi8(32);
  const __m256i first_four = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  const __m256i last_four = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t s = 0; s < n_blocks / 8; ++s) {
    const __m256 xd = _mm256_loadu_ps(x.d + 8 * s);
    const __m256 xd_half[2] = {_mm256_permutevar8x32_ps(xd, first_four),
                               _mm256_permutevar8x32_ps(xd, last_four)};
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + r * row_bytes + s * kBytes;
      _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetchBytes), _MM_HINT_T0);
      const __m256 d = _mm256_set1_ps(half_to_float(uint16_t(load_u32(blk + 206) >> 16)));
      for (int half = 0; half < 2; ++half) {
        uint64_t sc8;
        std::memcpy(&sc8, blk + 192 + 8 * half, 8);
        const __m256 scale = _mm256_mul_ps(
            _mm256_mul_ps(d, xd_half[half]),
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(int64_t(sc8)))));
        const uint8_t* ql = blk + 64 * half;
        const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
        const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
        const __m256i qh =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * half));
        const __m256i q[4] = {
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
          const __m256i codes = _mm256_sub_epi8(q[j], bias);
          const int16_t* xq = x.q + 32 * (8 * s + 4 * half + j);
          const __m256i plo =
              _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(codes)),
                                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq)));
          const __m256i phi =
              _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(codes, 1)),
                                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 16)));
          acc[r] = _mm256_fmadd_ps(lane(scale, 2 * j), _mm256_cvtepi32_ps(plo), acc[r]);
          acc[r] = _mm256_fmadd_ps(lane(scale, 2 * j + 1), _mm256_cvtepi32_ps(phi), acc[r]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]);
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

namespace {

// Groups of four rows, then the rest one by one (the same arithmetic per row either way).
template <void (*kFour)(const uint8_t*, int64_t, const Q16Activations&, int64_t, float*),
          void (*kOne)(const uint8_t*, int64_t, const Q16Activations&, int64_t, float*)>
void dot_grouped(const uint8_t* w, int64_t row_bytes, int64_t n_rows, const Q16Activations& x,
                 int64_t n_blocks, float* out) {
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) kFour(w + r * row_bytes, row_bytes, x, n_blocks, out + r);
  for (; r < n_rows; ++r) kOne(w + r * row_bytes, row_bytes, x, n_blocks, out + r);
}

template <BlockType T>
void dot_legacy_rows(const uint8_t* w, int64_t row_bytes, int64_t n_rows, const Q16Activations& x,
                     int64_t n_blocks, float* out) {
  if (kVnni) {
    dot_grouped<dot_rows_vnni<T, 4>, dot_rows_vnni<T, 1>>(w, row_bytes, n_rows, x, n_blocks, out);
  } else {
    dot_grouped<dot_rows_avx2<T, 4>, dot_rows_avx2<T, 1>>(w, row_bytes, n_rows, x, n_blocks, out);
  }
}

}  // namespace

void dot_q16_rows(BlockType type, const uint8_t* w, int64_t row_bytes, int64_t n_rows,
                  const Q16Activations& x, int64_t n_blocks, float* out) {
  switch (type) {
    case BlockType::Q4_0:
      return dot_legacy_rows<BlockType::Q4_0>(w, row_bytes, n_rows, x, n_blocks, out);
    case BlockType::Q4_1:
      return dot_legacy_rows<BlockType::Q4_1>(w, row_bytes, n_rows, x, n_blocks, out);
    case BlockType::Q5_0:
      return dot_legacy_rows<BlockType::Q5_0>(w, row_bytes, n_rows, x, n_blocks, out);
    case BlockType::Q5_1:
      return dot_legacy_rows<BlockType::Q5_1>(w, row_bytes, n_rows, x, n_blocks, out);
    case BlockType::Q8_0:
      return dot_legacy_rows<BlockType::Q8_0>(w, row_bytes, n_rows, x, n_blocks, out);
    case BlockType::Q4_K:
      return dot_grouped<dot_q4_k_rows<4>, dot_q4_k_rows<1>>(w, row_bytes, n_rows, x, n_blocks,
                                                             out);
    case BlockType::Q6_K:
      return dot_grouped<dot_q6_k_rows<4>, dot_q6_k_rows<1>>(w, row_bytes, n_rows, x, n_blocks,
                                                             out);
    default:
      std::fill(out, out + n_rows, 0.0f);
  }
}

float dot_q16(BlockType type, const uint8_t* w, const Q16Activations& x, int64_t n_blocks) {
  float out = 0.0f;
  dot_q16_rows(type, w, 0, 1, x, n_blocks, &out);
  return out;
}

}  // namespace longctx::cpu
