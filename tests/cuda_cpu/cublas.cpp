// cuBLAS's GEMMs on the host, in stream order: C = alpha op(A) op(B) + beta C, column-major, as
// cuBLAS defines them (its argument checks included: a leading dimension too small for the
// operand is CUBLAS_STATUS_INVALID_VALUE, as cuBLAS returns). GemmEx takes bfloat16 operands
// exactly (a bfloat16 is a float with a shorter mantissa) and accumulates in float, as
// CUBLAS_COMPUTE_32F does; the order of the sums differs from any device's, which the tests'
// tolerances allow.
#include <cublas_v2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace {

// Element (i, j) of op(M) for a column-major M with leading dimension ld.
template <typename Load>
struct Operand {
  Load load;
  cublasOperation_t op;
  int ld;
  float at(int i, int j) const {
    return op == CUBLAS_OP_N ? load(i + int64_t(j) * ld) : load(j + int64_t(i) * ld);
  }
};

bool valid(cublasOperation_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T;  // real types: C is T
}

cublasStatus_t check(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda,
                     int ldb, int ldc) {
  if (!valid(ta) || !valid(tb) || m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (lda < std::max(1, ta == CUBLAS_OP_N ? m : k)) return CUBLAS_STATUS_INVALID_VALUE;
  if (ldb < std::max(1, tb == CUBLAS_OP_N ? k : n)) return CUBLAS_STATUS_INVALID_VALUE;
  if (ldc < std::max(1, m)) return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}

// The product with each operand's k-vector gathered once, so the inner sum runs over contiguous
// floats whichever way the operands are stored.
template <typename LA, typename LB>
void gemm(const Operand<LA>& A, const Operand<LB>& B, int m, int n, int k, float alpha, float beta,
          float* C, int ldc) {
  std::vector<float> a(size_t(m) * size_t(k)), b(size_t(n) * size_t(k));
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < k; ++p) a[size_t(i) * size_t(k) + size_t(p)] = A.at(i, p);
  for (int j = 0; j < n; ++j)
    for (int p = 0; p < k; ++p) b[size_t(j) * size_t(k) + size_t(p)] = B.at(p, j);
// Threads over the columns, except under ThreadSanitizer (it cannot see OpenMP's barriers).
#if !defined(__SANITIZE_THREAD__)
#pragma omp parallel for schedule(static)
#endif
  for (int j = 0; j < n; ++j) {
    const float* bj = b.data() + size_t(j) * size_t(k);
    for (int i = 0; i < m; ++i) {
      const float* ai = a.data() + size_t(i) * size_t(k);
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int p = 0; p < k; ++p) s += ai[p] * bj[p];
      float& c = C[i + int64_t(j) * ldc];
      c = beta == 0.0f ? alpha * s : alpha * s + beta * c;  // beta 0: C is not read (may be NaN)
    }
  }
}

float bf16_at(const void* p, int64_t i) {
  const uint32_t u = uint32_t(static_cast<const uint16_t*>(p)[i]) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  cudaDeviceSynchronize();  // work queued with it still runs
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (auto st = check(transa, transb, m, n, k, lda, ldb, ldc); st != CUBLAS_STATUS_SUCCESS)
    return st;
  const float al = *alpha, be = *beta;  // host scalars: read at the call, as cuBLAS does
  auto work = [=] {
    auto la = [A](int64_t i) { return A[i]; };
    auto lb = [B](int64_t i) { return B[i]; };
    gemm(Operand<decltype(la)>{la, transa, lda}, Operand<decltype(lb)>{lb, transb, ldb}, m, n, k,
         al, be, C, ldc);
  };
  return cuda_cpu::enqueue(handle->stream, work) == cudaSuccess ? CUBLAS_STATUS_SUCCESS
                                                                : CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void* alpha,
                            const void* A, cudaDataType_t Atype, int lda, const void* B,
                            cudaDataType_t Btype, int ldb, const void* beta, void* C,
                            cudaDataType_t Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  // The one combination the project uses; others are not implemented here (and say so).
  if (Atype != CUDA_R_16BF || Btype != CUDA_R_16BF || Ctype != CUDA_R_32F ||
      computeType != CUBLAS_COMPUTE_32F || algo != CUBLAS_GEMM_DEFAULT)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (auto st = check(transa, transb, m, n, k, lda, ldb, ldc); st != CUBLAS_STATUS_SUCCESS)
    return st;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  float* c = static_cast<float*>(C);
  auto work = [=] {
    auto la = [A](int64_t i) { return bf16_at(A, i); };
    auto lb = [B](int64_t i) { return bf16_at(B, i); };
    gemm(Operand<decltype(la)>{la, transa, lda}, Operand<decltype(lb)>{lb, transb, ldb}, m, n, k,
         al, be, c, ldc);
  };
  return cuda_cpu::enqueue(handle->stream, work) == cudaSuccess ? CUBLAS_STATUS_SUCCESS
                                                                : CUBLAS_STATUS_NOT_SUPPORTED;
}
