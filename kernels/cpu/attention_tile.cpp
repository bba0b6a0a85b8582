#include "kernels/cpu/attention_tile.h"

#include <algorithm>
#include <cmath>

#include <immintrin.h>

#include "kernels/cpu/vec.h"
#include "kernels/cpu/vmath.h"

namespace longctx::cpu::tile {
namespace {

bool avx512() {
  return detected_isa() == Isa::Avx512;
}

// --- portable (vectorized by the compiler; an AVX2 clone for machines without AVX-512) -------
__attribute__((target_clones("avx2", "default"))) void scores_portable(const float* q,
                                                                       const float* kt, int64_t dim,
                                                                       float scale, float* s) {
  float acc[kKeys] = {};
  for (int64_t d = 0; d < dim; ++d) {
    for (int j = 0; j < kKeys; ++j) acc[j] += q[d] * kt[d * kKeys + j];
  }
  for (int j = 0; j < kKeys; ++j) s[j] = scale * acc[j];
}

__attribute__((target_clones("avx2", "default"))) void accumulate_portable(const float* p,
                                                                           const float* v, int n,
                                                                           int64_t dim, float c,
                                                                           float* out) {
  if (c != 1.0f) {
    for (int64_t d = 0; d < dim; ++d) out[d] *= c;
  }
  for (int j = 0; j < n; ++j) {
    for (int64_t d = 0; d < dim; ++d) out[d] += p[j] * v[j * dim + d];
  }
}

// --- AVX2 ---------------------------------------------------------------------------------------
bool avx2() {
  return detected_isa() == Isa::Avx2;
}

// Eight running sums: two dimensions at a time, each covering the 32 keys in four registers.
__attribute__((target("avx2,fma"))) void scores_avx2(const float* q, const float* kt, int64_t dim,
                                                     float scale, float* s) {
  __m256 a[4], b[4];
  for (int r = 0; r < 4; ++r) a[r] = b[r] = _mm256_setzero_ps();
  int64_t d = 0;
  for (; d + 2 <= dim; d += 2) {
    const float* k = kt + d * kKeys;
    const __m256 qa = _mm256_set1_ps(q[d]), qb = _mm256_set1_ps(q[d + 1]);
    for (int r = 0; r < 4; ++r) {
      a[r] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k + 8 * r), a[r]);
      b[r] = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k + kKeys + 8 * r), b[r]);
    }
  }
  for (; d < dim; ++d) {
    const __m256 qa = _mm256_set1_ps(q[d]);
    for (int r = 0; r < 4; ++r)
      a[r] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(kt + d * kKeys + 8 * r), a[r]);
  }
  const __m256 vs = _mm256_set1_ps(scale);
  for (int r = 0; r < 4; ++r)
    _mm256_storeu_ps(s + 8 * r, _mm256_mul_ps(vs, _mm256_add_ps(a[r], b[r])));
}

__attribute__((target("avx2,fma"))) float exp_sum_avx2(const float* s, int n, float max, float* p) {
  const __m256 vmax = _mm256_set1_ps(max);
  __m256 sum = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(s + j), vmax));
    _mm256_storeu_ps(p + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0.0f;
  for (float x : lanes) total += x;
  for (; j < n; ++j) total += p[j] = std::isinf(s[j]) ? 0.0f : std::exp(s[j] - max);
  return total;
}

// R registers of the output row (8 floats each) stay in registers over the whole tile.
template <int R>
__attribute__((target("avx2,fma"))) inline void accumulate_chunk_avx2(const float* p,
                                                                      const float* v, int n,
                                                                      int64_t dim, __m256 c,
                                                                      float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_mul_ps(c, _mm256_loadu_ps(out + 8 * r));
  for (int j = 0; j < n; ++j) {
    const __m256 pj = _mm256_set1_ps(p[j]);
    const float* vj = v + j * dim;
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * r), acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(out + 8 * r, acc[r]);
}

__attribute__((target("avx2,fma"))) void accumulate_avx2(const float* p, const float* v, int n,
                                                         int64_t dim, float c, float* out) {
  const __m256 vc = _mm256_set1_ps(c);
  int64_t d = 0;
  for (; d + 64 <= dim; d += 64) accumulate_chunk_avx2<8>(p, v + d, n, dim, vc, out + d);
  for (; d + 8 <= dim; d += 8) accumulate_chunk_avx2<1>(p, v + d, n, dim, vc, out + d);
  for (; d < dim; ++d) {
    float a = c * out[d];
    for (int j = 0; j < n; ++j) a += p[j] * v[j * dim + d];
    out[d] = a;
  }
}

// --- AVX-512 ----------------------------------------------------------------------------------
// R query rows against one transposed tile, each row's sums in four registers: even and odd
// dimensions, keys 0-15 and 16-31. A row's arithmetic is the same whatever R is (R = 4 shares each
// tile load among the rows and keeps 16 multiply-add chains in flight; R = 1 serves the rest).
template <int R>
__attribute__((target("avx512f"))) void scores_rows_avx512(const float* const* q, const float* kt,
                                                           int64_t dim, float scale, float* s) {
  __m512 even[R][2], odd[R][2];
  for (int r = 0; r < R; ++r) even[r][0] = even[r][1] = odd[r][0] = odd[r][1] = _mm512_setzero_ps();
  int64_t d = 0;
  for (; d + 2 <= dim; d += 2) {
    const float* k = kt + d * kKeys;
    const __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16);
    const __m512 k2 = _mm512_loadu_ps(k + 32), k3 = _mm512_loadu_ps(k + 48);
    for (int r = 0; r < R; ++r) {
      const __m512 qa = _mm512_set1_ps(q[r][d]), qb = _mm512_set1_ps(q[r][d + 1]);
      even[r][0] = _mm512_fmadd_ps(qa, k0, even[r][0]);
      even[r][1] = _mm512_fmadd_ps(qa, k1, even[r][1]);
      odd[r][0] = _mm512_fmadd_ps(qb, k2, odd[r][0]);
      odd[r][1] = _mm512_fmadd_ps(qb, k3, odd[r][1]);
    }
  }
  for (; d < dim; ++d) {
    const __m512 k0 = _mm512_loadu_ps(kt + d * kKeys), k1 = _mm512_loadu_ps(kt + d * kKeys + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 qa = _mm512_set1_ps(q[r][d]);
      even[r][0] = _mm512_fmadd_ps(qa, k0, even[r][0]);
      even[r][1] = _mm512_fmadd_ps(qa, k1, even[r][1]);
    }
  }
  const __m512 vs = _mm512_set1_ps(scale);
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(s + r * kKeys, _mm512_mul_ps(vs, _mm512_add_ps(even[r][0], odd[r][0])));
    _mm512_storeu_ps(s + r * kKeys + 16, _mm512_mul_ps(vs, _mm512_add_ps(even[r][1], odd[r][1])));
  }
}

__attribute__((target("avx512f"))) float exp_sum_avx512(const float* s, int n, float max,
                                                        float* p) {
  __m512 vmax = _mm512_set1_ps(max), sum = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    __mmask16 in = n - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - j)) - 1);
    __m512 x = _mm512_maskz_loadu_ps(in, s + j);
    // Masked keys (-inf) give exactly 0.
    __mmask16 m = _mm512_mask_cmp_ps_mask(in, x, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
    __m512 e = _mm512_maskz_mov_ps(m, exp_avx512(_mm512_sub_ps(x, vmax)));
    _mm512_mask_storeu_ps(p + j, in, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

// 16 rows x 16 columns transposed in registers: pairs of rows interleaved within 128-bit lanes
// (unpack ps, then pd), then the lanes gathered across row groups (two rounds of shuffle_f32x4).
__attribute__((target("avx512f"))) inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    // Within 128-bit lane L: columns 4L + k of rows 4i .. 4i + 3.
    r[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  __m512 out[16];
  for (int k = 0; k < 4; ++k) {
    const __m512 s0 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x88);
    const __m512 s1 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xdd);
    const __m512 u0 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x88);
    const __m512 u1 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xdd);
    out[0 + k] = _mm512_shuffle_f32x4(s0, u0, 0x88);   // column k (lane 0)
    out[4 + k] = _mm512_shuffle_f32x4(s1, u1, 0x88);   // column 4 + k (lane 1)
    out[8 + k] = _mm512_shuffle_f32x4(s0, u0, 0xdd);   // column 8 + k (lane 2)
    out[12 + k] = _mm512_shuffle_f32x4(s1, u1, 0xdd);  // column 12 + k (lane 3)
  }
  for (int i = 0; i < 16; ++i) r[i] = out[i];
}

// dim a multiple of 16: blocks of 16 keys x 16 dimensions through transpose16; missing keys zero.
__attribute__((target("avx512f"))) void transpose_avx512(const float* rows, int n, int64_t dim,
                                                         float* kt) {
  for (int j0 = 0; j0 < kKeys; j0 += 16) {
    for (int64_t d0 = 0; d0 < dim; d0 += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = j0 + i < n ? _mm512_loadu_ps(rows + (j0 + i) * dim + d0) : _mm512_setzero_ps();
      transpose16(r);
      for (int c = 0; c < 16; ++c) _mm512_storeu_ps(kt + (d0 + c) * kKeys + j0, r[c]);
    }
  }
}

__attribute__((target("avx512f"))) float max_avx512(const float* s, int n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int j = 0; j < n; j += 16) {
    __mmask16 in = n - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - j)) - 1);
    m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, in, s + j));
  }
  return _mm512_reduce_max_ps(m);
}

// R registers of the output row (16 floats each) stay in registers over the whole tile.
template <int R>
__attribute__((target("avx512f"))) inline void accumulate_chunk(const float* p, const float* v,
                                                                int n, int64_t dim, __m512 c,
                                                                float* out) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_mul_ps(c, _mm512_loadu_ps(out + 16 * r));
  for (int j = 0; j < n; ++j) {
    __m512 pj = _mm512_set1_ps(p[j]);
    const float* vj = v + j * dim;
    for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 16 * r), acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(out + 16 * r, acc[r]);
}

// The same for R rows at once: each value load serves every row. Lane by lane the operations are
// accumulate_chunk's, so a row's sums do not depend on the rows beside it.
template <int R, int C>
__attribute__((target("avx512f"))) inline void accumulate_rows_chunk(const float* p, const float* v,
                                                                     int n, int64_t dim,
                                                                     const float* c,
                                                                     float* const* out,
                                                                     int64_t d0) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r) {
    const __m512 cr = _mm512_set1_ps(c[r]);
    for (int i = 0; i < C; ++i)
      acc[r][i] = _mm512_mul_ps(cr, _mm512_loadu_ps(out[r] + d0 + 16 * i));
  }
  for (int j = 0; j < n; ++j) {
    const float* vj = v + j * dim + d0;
    __m512 vv[C];
    for (int i = 0; i < C; ++i) vv[i] = _mm512_loadu_ps(vj + 16 * i);
    for (int r = 0; r < R; ++r) {
      const __m512 pj = _mm512_set1_ps(p[r * kKeys + j]);
      for (int i = 0; i < C; ++i) acc[r][i] = _mm512_fmadd_ps(pj, vv[i], acc[r][i]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < C; ++i) _mm512_storeu_ps(out[r] + d0 + 16 * i, acc[r][i]);
}

template <int R>
__attribute__((target("avx512f"))) void accumulate_rows_avx512(const float* p, const float* v,
                                                               int n, int64_t dim, const float* c,
                                                               float* const* out) {
  int64_t d = 0;
  for (; d + 64 <= dim; d += 64) accumulate_rows_chunk<R, 4>(p, v, n, dim, c, out, d);
  for (; d + 16 <= dim; d += 16) accumulate_rows_chunk<R, 1>(p, v, n, dim, c, out, d);
  for (; d < dim; ++d) {
    for (int r = 0; r < R; ++r) {
      float a = c[r] * out[r][d];
      for (int j = 0; j < n; ++j) a += p[r * kKeys + j] * v[j * dim + d];
      out[r][d] = a;
    }
  }
}

__attribute__((target("avx512f"))) void accumulate_avx512(const float* p, const float* v, int n,
                                                          int64_t dim, float c, float* out) {
  __m512 vc = _mm512_set1_ps(c);
  int64_t d = 0;
  for (; d + 128 <= dim; d += 128) accumulate_chunk<8>(p, v + d, n, dim, vc, out + d);
  for (; d + 64 <= dim; d += 64) accumulate_chunk<4>(p, v + d, n, dim, vc, out + d);
  for (; d + 16 <= dim; d += 16) accumulate_chunk<1>(p, v + d, n, dim, vc, out + d);
  for (; d < dim; ++d) {
    float a = c * out[d];
    for (int j = 0; j < n; ++j) a += p[j] * v[j * dim + d];
    out[d] = a;
  }
}

}  // namespace

void transpose(const float* rows, int n, int64_t dim, float* kt) {
  if (avx512() && dim % 16 == 0) return transpose_avx512(rows, n, dim, kt);
  for (int64_t d = 0; d < dim; ++d) {
    float* col = kt + d * kKeys;
    for (int j = 0; j < n; ++j) col[j] = rows[j * dim + d];
    for (int j = n; j < kKeys; ++j) col[j] = 0.0f;
  }
}

void scores(const float* q, const float* kt, int64_t dim, float scale, float* s) {
  if (avx512()) {
    scores_rows_avx512<1>(&q, kt, dim, scale, s);
  } else if (avx2()) {
    scores_avx2(q, kt, dim, scale, s);
  } else {
    scores_portable(q, kt, dim, scale, s);
  }
}

float max(const float* s, int n) {
  if (avx512()) return max_avx512(s, n);
  float m = -INFINITY;
  for (int j = 0; j < n; ++j) m = s[j] > m ? s[j] : m;
  return m;
}

float exp_sum(const float* s, int n, float max, float* p) {
  if (avx512()) return exp_sum_avx512(s, n, max, p);
  if (avx2()) return exp_sum_avx2(s, n, max, p);
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) sum += p[j] = std::exp(s[j] - max);
  return sum;
}

void accumulate(const float* p, const float* v, int n, int64_t dim, float c, float* out) {
  if (avx512()) {
    accumulate_avx512(p, v, n, dim, c, out);
  } else if (avx2()) {
    accumulate_avx2(p, v, n, dim, c, out);
  } else {
    accumulate_portable(p, v, n, dim, c, out);
  }
}

void scores_rows(const float* const* q, int rows, const float* kt, int64_t dim, float scale,
                 float* s) {
  if (avx512() && rows == kRows) return scores_rows_avx512<kRows>(q, kt, dim, scale, s);
  for (int r = 0; r < rows; ++r) scores(q[r], kt, dim, scale, s + r * kKeys);
}

void accumulate_rows(const float* p, int rows, const float* v, int n, int64_t dim, const float* c,
                     float* const* out) {
  if (avx512()) {
    switch (rows) {
      case 4:
        return accumulate_rows_avx512<4>(p, v, n, dim, c, out);
      case 3:
        return accumulate_rows_avx512<3>(p, v, n, dim, c, out);
      case 2:
        return accumulate_rows_avx512<2>(p, v, n, dim, c, out);
      default:
        break;
    }
  }
  for (int r = 0; r < rows; ++r) accumulate(p + r * kKeys, v, n, dim, c[r], out[r]);
}

}  // namespace longctx::cpu::tile
