// Vector primitives of the CPU backend with AVX-512, AVX2+FMA and scalar variants, chosen once at
// run time from the processor's features (the binary itself targets baseline x86-64).
#pragma once

#include <cstdint>

namespace longctx::cpu {

// LONGCTX_CPU_ISA=scalar or avx2 in the environment caps the choice (to test the fallbacks).
enum class Isa { Scalar, Avx2, Avx512 };
Isa detected_isa();
const char* isa_name(Isa isa);

// sum_i a[i] * b[i]
float dot_f32(const float* a, const float* b, int64_t n);
// out[r][t] = dot(w[r], x + t * x_stride) for 4 rows and 4 token rows of length n: 16 running
// sums in registers, so each loaded vector feeds four multiply-adds (the prefill GEMM core).
void dot_4x4(const float* const w[4], const float* x, int64_t x_stride, int64_t n, float out[4][4]);
// The same for 6 token rows where the ISA has the registers for 24 sums (AVX-512); false if not.
bool dot_4x6(const float* const w[4], const float* x, int64_t x_stride, int64_t n, float out[4][6]);
// sum_i a[i] * float(b[i]) with b in IEEE half
float dot_f32_f16(const float* a, const uint16_t* b, int64_t n);
// y[i] += alpha * float(x[i]) with x in IEEE half
void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n);
// sum_i max(q[i] * lo[i], q[i] * hi[i]): the largest q.k over keys within [lo, hi] (Quest's bound)
float bound_dot(const float* q, const float* lo, const float* hi, int64_t n);
// The largest bound_dot over n_q query rows (q + r * n): a Quest page against a group's heads,
// reading the page's bounds once for all of them.
float bound_dot_max(const float* q, int64_t n_q, const float* lo, const float* hi, int64_t n);
// y[i] += alpha * x[i]
void axpy_f32(float alpha, const float* x, float* y, int64_t n);
// half to float
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n);
// Rows of ggml q8_0 / q4_0 blocks (n a multiple of 32) to float, equal bit for bit to
// kernels::dequantize_block: the KV cache's quantized rows on the attention path.
void q8_0_to_f32_row(const uint8_t* blocks, float* y, int64_t n);
void q4_0_to_f32_row(const uint8_t* blocks, float* y, int64_t n);
// y[i] *= alpha
void scale_f32(float* y, float alpha, int64_t n);
// float to half, round to nearest even
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);

}  // namespace longctx::cpu
