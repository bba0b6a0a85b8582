// Vector math for the AVX-512 paths: inline, for functions compiled with target("avx512f").
#pragma once

#include <immintrin.h>

// GCC 12's AVX-512 headers start some intrinsics (roundscale, scalef, reductions) from undefined
// vectors, which its own uninitialized-value warnings then report at every inlining site in the
// including file; nothing here reads an undefined lane.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace longctx::cpu {

// exp(x): x = n ln2 + r, |r| <= ln2 / 2, a degree-6 polynomial for exp(r) (the Cephes expf
// coefficients, ~1 ulp) and scalef for the 2^n (inf above the float range). Inputs below -87 give
// exp(-87), the smallest normal result: no denormals reach later multiply-adds, whose microcode
// assists cost ~100 cycles each.
__attribute__((target("avx512f"))) inline __m512 exp_avx512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

}  // namespace longctx::cpu
