// Marks code shared by the CPU and CUDA backends, and float arithmetic with one rounding per
// operation on both sides. Golden tests compare dequantized values bit for bit with the `gguf`
// package (numpy, one rounding per operation), so neither compiler may fuse a*b+c into an FMA here.
#pragma once

#if defined(__CUDACC__)
#define LC_HD __host__ __device__ __forceinline__
#else
#define LC_HD inline
#endif

namespace longctx::kernels {

LC_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

LC_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

LC_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

}  // namespace longctx::kernels
