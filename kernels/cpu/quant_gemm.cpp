#include "kernels/cpu/quant_gemm.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/vec.h"
#include "kernels/cpu/x86_blocks.h"

#define LC_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace longctx::cpu {
namespace {

using kernels::BlockType;

constexpr int kPairs = 16;  // int16 pairs in a 32-element piece

// The factors of one row's piece: w = s * c + o (s[1] only with half scales).
struct Piece {
  float s[2];
  float o;
};

LC_AVX2 inline void store_u8(__m256i bytes, bool is_signed, int16_t bias, int16_t* c) {
  const __m128i lo = _mm256_castsi256_si128(bytes), hi = _mm256_extracti128_si256(bytes, 1);
  const __m256i b = _mm256_set1_epi16(bias);
  __m256i wlo = is_signed ? _mm256_cvtepi8_epi16(lo) : _mm256_cvtepu8_epi16(lo);
  __m256i whi = is_signed ? _mm256_cvtepi8_epi16(hi) : _mm256_cvtepu8_epi16(hi);
  _mm256_store_si256(reinterpret_cast<__m256i*>(c), _mm256_sub_epi16(wlo, b));
  _mm256_store_si256(reinterpret_cast<__m256i*>(c + 16), _mm256_sub_epi16(whi, b));
}

// Writes the piece's 32 codes to c (32-byte aligned) and its factors to p. The factors repeat
// kernels::dequantize_block's float operations, so s * c + o is the reference
// value bit for bit: products of a half and a 6- or 8-bit integer are exact in float, the
// minimum's subtraction rounds once as it does there.
template <BlockType T>
LC_AVX2 void decode_piece(const uint8_t* row, int64_t piece, int16_t* c, Piece& p) {
  using namespace kernels;
  p.o = 0.0f;
  if constexpr (T == BlockType::Q4_0) {
    const uint8_t* b = row + piece * int64_t(sizeof(BlockQ4_0));
    p.s[0] = x86::half_at(b);
    store_u8(x86::nibbles(b + 2), false, 8, c);
  } else if constexpr (T == BlockType::Q4_1) {
    const uint8_t* b = row + piece * int64_t(sizeof(BlockQ4_1));
    p.s[0] = x86::half_at(b);
    p.o = x86::half_at(b + 2);
    store_u8(x86::nibbles(b + 4), false, 0, c);
  } else if constexpr (T == BlockType::Q5_0) {
    const uint8_t* b = row + piece * int64_t(sizeof(BlockQ5_0));
    p.s[0] = x86::half_at(b);
    store_u8(_mm256_or_si256(x86::nibbles(b + 6), x86::fifth_bits(b + 2)), false, 16, c);
  } else if constexpr (T == BlockType::Q5_1) {
    const uint8_t* b = row + piece * int64_t(sizeof(BlockQ5_1));
    p.s[0] = x86::half_at(b);
    p.o = x86::half_at(b + 2);
    store_u8(_mm256_or_si256(x86::nibbles(b + 8), x86::fifth_bits(b + 4)), false, 0, c);
  } else if constexpr (T == BlockType::Q8_0) {
    const uint8_t* b = row + piece * int64_t(sizeof(BlockQ8_0));
    p.s[0] = x86::half_at(b);
    store_u8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)), true, 0, c);
  } else if constexpr (T == BlockType::Q4_K || T == BlockType::Q5_K) {
    constexpr bool kFive = T == BlockType::Q5_K;
    constexpr int64_t kBytes = kFive ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
    const uint8_t* b = row + piece / 8 * kBytes;
    const int j = int(piece % 8), chunk = j / 2, nib = j % 2;
    int sc, m;
    k4_scale_min(b + offsetof(BlockQ4_K, scales), j, sc, m);
    p.s[0] = x86::half_at(b + offsetof(BlockQ4_K, d)) * float(sc);
    p.o = -(x86::half_at(b + offsetof(BlockQ4_K, dmin)) * float(m));
    const size_t qs = kFive ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
    __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + qs + 32 * chunk));
    __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 4 * nib), _mm256_set1_epi8(0x0f));
    if constexpr (kFive) {
      __m256i qh =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + offsetof(BlockQ5_K, qh)));
      __m256i bit = _mm256_and_si256(_mm256_srli_epi16(qh, j), _mm256_set1_epi8(1));
      q = _mm256_or_si256(q, _mm256_slli_epi16(bit, 4));
    }
    store_u8(q, false, 0, c);
  } else if constexpr (T == BlockType::Q6_K) {
    const uint8_t* b = row + piece / 8 * int64_t(sizeof(BlockQ6_K));
    const int pp = int(piece % 8), half = pp / 4, k = pp % 4;
    const float d = x86::half_at(b + offsetof(BlockQ6_K, d));
    const auto* sc = reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6_K, scales)) + 8 * half;
    p.s[0] = d * float(sc[2 * k]);
    p.s[1] = d * float(sc[2 * k + 1]);
    __m256i ql = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(b + offsetof(BlockQ6_K, ql) + 64 * half + 32 * (k & 1)));
    __m256i qh = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(b + offsetof(BlockQ6_K, qh) + 32 * half));
    __m256i low = _mm256_and_si256(k < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0f));
    __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), _mm256_set1_epi8(3));
    store_u8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), false, 32, c);
  }
}

using DecodePiece = void (*)(const uint8_t*, int64_t, int16_t*, Piece&);

DecodePiece piece_decoder(BlockType type) {
  switch (type) {
    case BlockType::Q4_0:
      return decode_piece<BlockType::Q4_0>;
    case BlockType::Q4_1:
      return decode_piece<BlockType::Q4_1>;
    case BlockType::Q5_0:
      return decode_piece<BlockType::Q5_0>;
    case BlockType::Q5_1:
      return decode_piece<BlockType::Q5_1>;
    case BlockType::Q8_0:
      return decode_piece<BlockType::Q8_0>;
    case BlockType::Q4_K:
      return decode_piece<BlockType::Q4_K>;
    case BlockType::Q5_K:
      return decode_piece<BlockType::Q5_K>;
    case BlockType::Q6_K:
      return decode_piece<BlockType::Q6_K>;
    default:
      return nullptr;
  }
}

// 16 x 16 32-bit elements: out[c] lane r = in[r] element c (in[r] 64-byte aligned).
LC_AVX512 inline void transpose16(const int32_t* in, int32_t* out) {
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(in + 16 * i);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // r[4i + j], 128-bit lane L: element 4L + j of rows 4i .. 4i + 3.
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    __m512i v0 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x44);
    __m512i v1 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xee);
    __m512i v2 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x44);
    __m512i v3 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xee);
    _mm512_storeu_si512(out + 16 * j, _mm512_shuffle_i32x4(v0, v2, 0x88));
    _mm512_storeu_si512(out + 16 * (4 + j), _mm512_shuffle_i32x4(v0, v2, 0xdd));
    _mm512_storeu_si512(out + 16 * (8 + j), _mm512_shuffle_i32x4(v1, v3, 0x88));
    _mm512_storeu_si512(out + 16 * (12 + j), _mm512_shuffle_i32x4(v1, v3, 0xdd));
  }
}

// 8 rows x 16 elements (in[r] at in + 16 r) to out[c] lane r, c < 16: two 8 x 8 transposes.
LC_AVX2 inline void transpose8(const int32_t* in, int32_t* out) {
  for (int h = 0; h < 2; ++h) {
    __m256i r[8], t[8];
    for (int i = 0; i < 8; ++i)
      r[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(in + 16 * i + 8 * h));
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
      r[4 * i] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
      r[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
      r[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
      r[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    int32_t* o = out + 64 * h;  // elements 8h .. 8h + 7
    for (int j = 0; j < 4; ++j) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 8 * j),
                          _mm256_permute2x128_si256(r[j], r[4 + j], 0x20));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 8 * (4 + j)),
                          _mm256_permute2x128_si256(r[j], r[4 + j], 0x31));
    }
  }
}

// The quantized activations of the call: codes, scale and scale x sum per 32-element block.
struct Activations {
  const int16_t* q;
  const float* d;
  const float* ds;
  int64_t cols, n_blocks;
};

// sum[t] += float(acc[t]) * d_x[t] * s (per lane), then acc[t] = 0: a piece's (or half piece's)
// integer sums meet the activation block's scale and the weight rows' scales.
template <int T>
LC_AVX512 inline void scale_sums16(__m512i (&acc)[T], __m512 (&sum)[T], const float* s,
                                   const float* dx, int64_t dx_stride) {
  const __m512 sv = _mm512_loadu_ps(s);
  for (int t = 0; t < T; ++t) {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[t]), _mm512_set1_ps(dx[t * dx_stride]));
    sum[t] = _mm512_fmadd_ps(v, sv, sum[t]);
    acc[t] = _mm512_setzero_si512();
  }
}
template <int T>
LC_AVX2 inline void scale_sums8(__m256i (&acc)[T], __m256 (&sum)[T], const float* s,
                                const float* dx, int64_t dx_stride) {
  const __m256 sv = _mm256_loadu_ps(s);
  for (int t = 0; t < T; ++t) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_set1_ps(dx[t * dx_stride]));
    sum[t] = _mm256_fmadd_ps(v, sv, sum[t]);
    acc[t] = _mm256_setzero_si256();
  }
}

// Row group (16 lanes) x T tokens over every piece: per piece 16 code vectors, each meeting T
// broadcast activation pairs; the piece's integer sums then scaled into float sums.
template <int T, bool kOffset, bool kHalf, bool kVnni>
LC_AVX512 void tile16(const int32_t* codes, const float* scale, const float* offset,
                      const Activations& x, int64_t t0, float* y, int64_t y_stride,
                      __mmask16 rows) {
  __m512 sum[T];
  for (int t = 0; t < T; ++t) sum[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < x.n_blocks; ++b) {
    const int32_t* cb = codes + b * kPairs * 16;
    const int16_t* xb = x.q + t0 * x.cols + 32 * b;
    const float* db = x.d + t0 * x.n_blocks + b;
    __m512i acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_si512();
#pragma GCC unroll 16
    for (int p = 0; p < kPairs; ++p) {
      const __m512i w = _mm512_load_si512(cb + 16 * p);
      for (int t = 0; t < T; ++t) {
        int32_t pair;
        std::memcpy(&pair, xb + t * x.cols + 2 * p, 4);
        const __m512i xv = _mm512_set1_epi32(pair);
        acc[t] = kVnni ? _mm512_dpwssd_epi32(acc[t], w, xv)
                       : _mm512_add_epi32(acc[t], _mm512_madd_epi16(w, xv));
      }
      if (kHalf && p == kPairs / 2 - 1)
        scale_sums16<T>(acc, sum, scale + 2 * b * 16, db, x.n_blocks);
    }
    scale_sums16<T>(acc, sum, scale + (kHalf ? 2 * b + 1 : b) * 16, db, x.n_blocks);
    if constexpr (kOffset) {
      const __m512 ov = _mm512_loadu_ps(offset + b * 16);
      const float* dsb = x.ds + t0 * x.n_blocks + b;
      for (int t = 0; t < T; ++t)
        sum[t] = _mm512_fmadd_ps(ov, _mm512_set1_ps(dsb[t * x.n_blocks]), sum[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, rows, sum[t]);
}

// The same with 8 lanes and vpmaddwd (AVX2: 16 registers hold 4 tokens' sums).
template <int T, bool kOffset, bool kHalf>
LC_AVX2 void tile8(const int32_t* codes, const float* scale, const float* offset,
                   const Activations& x, int64_t t0, float* y, int64_t y_stride, int n_rows) {
  __m256 sum[T];
  for (int t = 0; t < T; ++t) sum[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < x.n_blocks; ++b) {
    const int32_t* cb = codes + b * kPairs * 8;
    const int16_t* xb = x.q + t0 * x.cols + 32 * b;
    const float* db = x.d + t0 * x.n_blocks + b;
    __m256i acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_si256();
#pragma GCC unroll 16
    for (int p = 0; p < kPairs; ++p) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(cb + 8 * p));
      for (int t = 0; t < T; ++t) {
        int32_t pair;
        std::memcpy(&pair, xb + t * x.cols + 2 * p, 4);
        acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(w, _mm256_set1_epi32(pair)));
      }
      if (kHalf && p == kPairs / 2 - 1) scale_sums8<T>(acc, sum, scale + 2 * b * 8, db, x.n_blocks);
    }
    scale_sums8<T>(acc, sum, scale + (kHalf ? 2 * b + 1 : b) * 8, db, x.n_blocks);
    if constexpr (kOffset) {
      const __m256 ov = _mm256_loadu_ps(offset + b * 8);
      const float* dsb = x.ds + t0 * x.n_blocks + b;
      for (int t = 0; t < T; ++t)
        sum[t] = _mm256_fmadd_ps(ov, _mm256_set1_ps(dsb[t * x.n_blocks]), sum[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    alignas(32) float out[8];
    _mm256_store_ps(out, sum[t]);
    std::memcpy(y + t * y_stride, out, sizeof(float) * size_t(n_rows));
  }
}

constexpr int kTokens512 = 8;  // tokens per pass: AVX-512 (8 sums + 8 integer accumulators)
constexpr int kTokens256 = 4;  // AVX2

using TileFn = void (*)(const int32_t*, const float*, const float*, const Activations&, int64_t,
                        float*, int64_t, int);

template <int T, bool kOffset, bool kHalf, bool kVnni>
void call_tile16(const int32_t* c, const float* s, const float* o, const Activations& x, int64_t t0,
                 float* y, int64_t ys, int n_rows) {
  tile16<T, kOffset, kHalf, kVnni>(c, s, o, x, t0, y, ys, __mmask16((1u << n_rows) - 1));
}

template <bool kOffset, bool kHalf, bool kVnni, int... T>
constexpr std::array<TileFn, sizeof...(T)> table16(std::integer_sequence<int, T...>) {
  return {call_tile16<T + 1, kOffset, kHalf, kVnni>...};
}
template <bool kOffset, bool kHalf, int... T>
constexpr std::array<TileFn, sizeof...(T)> table8(std::integer_sequence<int, T...>) {
  return {tile8<T + 1, kOffset, kHalf>...};
}

// The kernel for `n` tokens (1 .. the pass width) of a layout on this machine.
TileFn tile_fn(const GemmLayout& l, bool wide, bool vnni, int n) {
  using S16 = std::make_integer_sequence<int, kTokens512>;
  using S8 = std::make_integer_sequence<int, kTokens256>;
  static const auto v_plain = table16<false, false, true>(S16{});
  static const auto v_off = table16<true, false, true>(S16{});
  static const auto v_half = table16<false, true, true>(S16{});
  static const auto w_plain = table16<false, false, false>(S16{});
  static const auto w_off = table16<true, false, false>(S16{});
  static const auto w_half = table16<false, true, false>(S16{});
  static const auto a_plain = table8<false, false>(S8{});
  static const auto a_off = table8<true, false>(S8{});
  static const auto a_half = table8<false, true>(S8{});
  if (wide) {
    const auto& t = vnni ? (l.offset        ? v_off
                            : l.half_scales ? v_half
                                            : v_plain)
                         : (l.offset        ? w_off
                            : l.half_scales ? w_half
                                            : w_plain);
    return t[size_t(n - 1)];
  }
  const auto& t = l.offset ? a_off : l.half_scales ? a_half : a_plain;
  return t[size_t(n - 1)];
}

bool cpu_has_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
}

// Quantizes token rows [t_begin, t_end) of x into the call's activation buffers.
void quantize_tokens(const float* x, int64_t t_begin, int64_t t_end, int64_t cols, int16_t* q,
                     float* d, float* ds) {
  const int64_t nb = cols / 32;
  static thread_local std::vector<int32_t> sums;
  sums.resize(size_t(nb));
  for (int64_t t = t_begin; t < t_end; ++t) {
    quantize_q16(x + t * cols, cols, {q + t * cols, d + t * nb, sums.data()});
    for (int64_t b = 0; b < nb; ++b) ds[t * nb + b] = d[t * nb + b] * float(sums[size_t(b)]);
  }
}

}  // namespace

GemmLayout gemm_layout(BlockType type) {
  switch (type) {
    case BlockType::Q4_0:
    case BlockType::Q5_0:
    case BlockType::Q8_0:
      return {true, false, false};
    case BlockType::Q4_1:
    case BlockType::Q5_1:
    case BlockType::Q4_K:
    case BlockType::Q5_K:
      return {true, true, false};
    case BlockType::Q6_K:
      return {true, false, true};
    default:
      return {};
  }
}

int gemm_lanes() {
  // 16 lanes need AVX-512BW's 16-bit multiply-adds too (AVX-512F alone, as on Xeon Phi, has none).
  static const bool bw = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bw") != 0;
  }();
  switch (detected_isa()) {
    case Isa::Avx512:
      return bw ? 16 : 8;
    case Isa::Avx2:
      return 8;
    default:
      return 0;
  }
}

bool has_integer_gemm(BlockType type) {
  return gemm_lanes() > 0 && gemm_layout(type).supported;
}

void decode_row_group(const kernels::MatrixView& w, int64_t r0, int32_t* codes, float* scale,
                      float* offset) {
  const int lanes = gemm_lanes();
  const GemmLayout layout = gemm_layout(w.type);
  const DecodePiece decode = piece_decoder(w.type);
  const int n_s = layout.half_scales ? 2 : 1;
  const int64_t n_blocks = w.cols / 32;
  alignas(64) int16_t rows[16][32];
  Piece p;
  for (int64_t b = 0; b < n_blocks; ++b) {
    for (int r = 0; r < lanes; ++r) {
      if (r0 + r < w.rows) {
        decode(w.data + (r0 + r) * w.row_bytes, b, rows[r], p);
      } else {
        std::memset(rows[r], 0, sizeof rows[r]);
        p.s[0] = p.s[1] = p.o = 0.0f;
      }
      for (int h = 0; h < n_s; ++h) scale[(b * n_s + h) * lanes + r] = p.s[h];
      if (layout.offset) offset[b * lanes + r] = p.o;
    }
    int32_t* out = codes + b * kPairs * lanes;
    if (lanes == 16)
      transpose16(reinterpret_cast<const int32_t*>(rows), out);
    else
      transpose8(reinterpret_cast<const int32_t*>(rows), out);
  }
}

void gemm_q16(std::span<const MatmulOut> outs, const float* x, int64_t n_tokens) {
  const int64_t cols = outs[0].w->cols, n_blocks = cols / 32;
  const int lanes = gemm_lanes();
  const bool wide = lanes == 16;
  static const bool vnni = cpu_has_vnni();
  const int pass = wide ? kTokens512 : kTokens256;
  // The call's activations, quantized once (by every thread, a share of the tokens each).
  static thread_local std::vector<int16_t> q;
  static thread_local std::vector<float> d, ds;
  q.resize(size_t(n_tokens * cols));
  d.resize(size_t(n_tokens * n_blocks));
  ds.resize(size_t(n_tokens * n_blocks));
  const Activations xa{q.data(), d.data(), ds.data(), cols, n_blocks};
  // Work items: a few row groups of one matrix, as many as keep their codes in about half of a
  // core's L2 (1 MiB here) while the activation rows of a pass stream past them, and at least
  // four items per thread so a thread that is slowed (or descheduled) is made up by the others.
  const int64_t group_bytes = int64_t(lanes) * cols * 2;
  const int threads = omp_get_max_threads();
  int64_t total_groups = 0;
  for (const auto& o : outs) total_groups += (o.w->rows + lanes - 1) / lanes;
  int64_t per_item = std::max<int64_t>(1, (int64_t(512) << 10) / group_bytes);
  per_item = std::min(per_item, std::max<int64_t>(1, total_groups / (4 * threads)));
  static thread_local std::vector<std::pair<size_t, int64_t>> items;  // (matrix, first group)
  items.clear();
  for (size_t m = 0; m < outs.size(); ++m) {
    const int64_t groups = (outs[m].w->rows + lanes - 1) / lanes;
    for (int64_t g = 0; g < groups; g += per_item) items.emplace_back(m, g);
  }
  // Thread-local buffers of the calling thread: the region's threads reach them through pointers.
  const std::pair<size_t, int64_t>* item = items.data();
  const size_t n_items = items.size();
  int16_t* qp = q.data();
  float* dp = d.data();
  float* dsp = ds.data();
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t t = 0; t < n_tokens; ++t) quantize_tokens(x, t, t + 1, cols, qp, dp, dsp);
    static thread_local std::vector<int32_t> codes;
    static thread_local std::vector<float> scale, offset;
    codes.resize(size_t(per_item * lanes * cols / 2) + 16);
    scale.resize(size_t(per_item * lanes * n_blocks * 2));
    offset.resize(size_t(per_item * lanes * n_blocks));
    // 64-byte aligned code vectors.
    int32_t* cbase = reinterpret_cast<int32_t*>((reinterpret_cast<uintptr_t>(codes.data()) + 63) &
                                                ~uintptr_t(63));
#pragma omp for schedule(dynamic, 1)
    for (size_t i = 0; i < n_items; ++i) {
      const kernels::MatrixView& w = *outs[item[i].first].w;
      float* y = outs[item[i].first].y;
      const GemmLayout layout = gemm_layout(w.type);
      const int64_t groups = (w.rows + lanes - 1) / lanes;
      const int64_t g0 = item[i].second, ng = std::min(per_item, groups - g0);
      const int64_t group_codes = lanes * cols / 2, group_scales = lanes * n_blocks * 2;
      for (int64_t g = 0; g < ng; ++g) {
        decode_row_group(w, (g0 + g) * lanes, cbase + g * group_codes,
                         scale.data() + g * group_scales, offset.data() + g * lanes * n_blocks);
      }
      for (int64_t t0 = 0; t0 < n_tokens; t0 += pass) {
        const int n = int(std::min<int64_t>(pass, n_tokens - t0));
        const TileFn fn = tile_fn(layout, wide, vnni, n);
        for (int64_t g = 0; g < ng; ++g) {
          const int64_t r0 = (g0 + g) * lanes;
          fn(cbase + g * group_codes, scale.data() + g * group_scales,
             offset.data() + g * lanes * n_blocks, xa, t0, y + t0 * w.rows + r0, w.rows,
             int(std::min<int64_t>(lanes, w.rows - r0)));
        }
      }
    }
  }
}

}  // namespace longctx::cpu
