#include "kernels/cpu/peak.h"

#include <immintrin.h>
#include <omp.h>

#include <chrono>

namespace longctx::cpu {
namespace {

// Twelve independent accumulator chains: enough to cover each instruction's latency at two issues
// per cycle. `op` is the instruction under test with its accumulator first; the asm statements
// keep the compiler from folding the loop or hoisting the operands.
#define LC_PEAK_LOOP(VEC, ZERO, OP, CONSTRAINT)                                  \
  VEC a[12], b = ZERO, c = ZERO;                                                 \
  for (auto& v : a) v = ZERO;                                                    \
  for (long k = 0; k < iters; ++k) {                                             \
    _Pragma("GCC unroll 12") for (int i = 0; i < 12; ++i) a[i] = OP(a[i], b, c); \
    __asm__ volatile("" : "+" CONSTRAINT(b), "+" CONSTRAINT(c));                 \
  }                                                                              \
  for (int i = 0; i < 12; ++i) __asm__ volatile("" : : CONSTRAINT(a[i]));

#define LC_DPWSSD(acc, x, y) _mm512_dpwssd_epi32(acc, x, y)
#define LC_DPBUSD(acc, x, y) _mm512_dpbusd_epi32(acc, x, y)
#define LC_FMA512(acc, x, y) _mm512_fmadd_ps(acc, x, y)
#define LC_MADDWD(acc, x, y) _mm256_add_epi32(acc, _mm256_madd_epi16(acc, y))
#define LC_MADDUBS(acc, x, y) _mm256_add_epi16(acc, _mm256_maddubs_epi16(acc, y))
#define LC_FMA256(acc, x, y) _mm256_fmadd_ps(acc, x, y)

__attribute__((target("avx512f,avx512vnni"))) void dpwssd(long iters) {
  LC_PEAK_LOOP(__m512i, _mm512_setzero_si512(), LC_DPWSSD, "v")
}
__attribute__((target("avx512f,avx512vnni"))) void dpbusd(long iters) {
  LC_PEAK_LOOP(__m512i, _mm512_setzero_si512(), LC_DPBUSD, "v")
}
__attribute__((target("avx512f"))) void fma512(long iters) {
  LC_PEAK_LOOP(__m512, _mm512_setzero_ps(), LC_FMA512, "v")
}
// AVX2 has no accumulating integer product: vpmaddwd (or vpmaddubsw) then an add, chained through
// the accumulator so that each iteration's product is not hoisted.
__attribute__((target("avx2"))) void maddwd(long iters) {
  LC_PEAK_LOOP(__m256i, _mm256_setzero_si256(), LC_MADDWD, "x")
}
__attribute__((target("avx2"))) void maddubs(long iters) {
  LC_PEAK_LOOP(__m256i, _mm256_setzero_si256(), LC_MADDUBS, "x")
}
__attribute__((target("avx2,fma"))) void fma256(long iters) {
  LC_PEAK_LOOP(__m256, _mm256_setzero_ps(), LC_FMA256, "x")
}

struct Candidate {
  const char* instruction;
  void (*run)(long);
  int macs;  // per instruction
  bool available;
};

double rate(const Candidate& c, int threads, double seconds) {
  // Calibrate on one thread, then run that many iterations on every thread at once.
  long iters = 1 << 16;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    c.run(iters);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > seconds / 4 || iters > (1L << 40)) {
      iters = long(double(iters) * seconds / s);
      break;
    }
    iters *= 4;
  }
  double slowest = 0;
#pragma omp parallel num_threads(threads) reduction(max : slowest)
  {
    auto t0 = std::chrono::steady_clock::now();
    c.run(iters);
    slowest = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return double(iters) * 12 * c.macs * threads / slowest;
}

}  // namespace

std::vector<PeakRate> measure_peak(int threads, double seconds) {
  __builtin_cpu_init();
  const bool vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const Candidate all[] = {
      {"vpdpbusd zmm (int8, VNNI)", dpbusd, 64, vnni},
      {"vpdpwssd zmm (int16, VNNI)", dpwssd, 32, vnni},
      {"vfmadd zmm (f32)", fma512, 16, avx512},
      {"vpmaddubsw+vpaddw ymm (int8, AVX2)", maddubs, 32, avx2},
      {"vpmaddwd+vpaddd ymm (int16, AVX2)", maddwd, 16, avx2},
      {"vfmadd ymm (f32, AVX2)", fma256, 8, avx2},
  };
  std::vector<PeakRate> out;
  for (const auto& c : all) {
    if (c.available) out.push_back({c.instruction, rate(c, threads, seconds)});
  }
  return out;
}

}  // namespace longctx::cpu
