// Unpacking the codes of GGUF blocks into vector registers (AVX2), shared by the integer dot
// products of decoding (quant_dot.cpp) and the tile kernels of prefill (quant_gemm.cpp). Only
// called from functions compiled for AVX2 or later, after the processor was checked.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define LC_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace longctx::cpu::x86 {

// Half to float in one instruction (exact, subnormals included, as kernels::fp16_to_float).
LC_AVX2 inline float half_to_float(uint16_t h) {
  return _cvtsh_ss(h);
}

LC_AVX2 inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return half_to_float(h);
}

// 16 packed bytes of nibbles as 32 bytes: elements 0..15 the low nibbles, 16..31 the high ones.
LC_AVX2 inline __m256i nibbles(const uint8_t* qs) {
  __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0f));
  __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0f));
  return _mm256_set_m128i(hi, lo);
}

// Byte i = 0x10 when bit i of the 32-bit mask is set (the fifth bit of Q5_0 / Q5_1).
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

}  // namespace longctx::cpu::x86
