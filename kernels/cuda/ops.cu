// Norms, rotary embedding, activations and element-wise arithmetic on the device, following the
// CPU versions in kernels/cpu/ops.cpp operation for operation where the order matters.
#include "kernels/common/routing.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/launch.h"

namespace longctx::cuda {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) {
  return unsigned((n + kThreads - 1) / kThreads);
}

// One block per row: the sum of squares reduced in double (as the CPU does), then scaled.
__global__ void rms_norm_kernel(const float* x, const float* w, float eps, int64_t dim, float* y) {
  const float* xr = x + int64_t(blockIdx.x) * dim;
  float* yr = y + int64_t(blockIdx.x) * dim;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) s += double(xr[i]) * xr[i];
  __shared__ double partial[kThreads / 32];
  for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    s = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0;
    for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (threadIdx.x == 0) partial[0] = s;
  }
  __syncthreads();
  const float inv = float(1.0 / sqrt(partial[0] / double(dim) + double(eps)));
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
}

// One thread per (token, head, rotated pair); angles in double as on the CPU.
__global__ void rope_kernel(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                            int64_t n_rot, const float* inv_freq, float amplitude,
                            const int32_t* pos, bool halves) {
  const int64_t half = n_rot / 2;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_tokens * n_heads * half) return;
  const int64_t p = i % half, h = (i / half) % n_heads, t = i / (half * n_heads);
  const double angle = double(pos[t]) * double(inv_freq[p]);
  double sd, cd;
  sincos(angle, &sd, &cd);
  const float c = float(cd) * amplitude, s = float(sd) * amplitude;
  float* v = x + (t * n_heads + h) * head_dim;
  const int64_t a = halves ? p : 2 * p, b = halves ? p + half : 2 * p + 1;
  const float x0 = v[a], x1 = v[b];
  v[a] = x0 * c - x1 * s;
  v[b] = x0 * s + x1 * c;
}

__global__ void add_kernel(float* y, const float* x, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] += x[i];
}

__global__ void add_rows_kernel(float* y, const float* b, int64_t n, int64_t dim) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] += b[i % dim];
}

__global__ void scale_kernel(float* y, float alpha, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] *= alpha;
}

__global__ void gated_kernel(float* gate, const float* up, int64_t n, bool gelu) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  const float z = gelu ? -2.0f * 0.7978845608028654f * (g + 0.044715f * g * g * g) : -g;
  gate[i] = g / (1.0f + expf(z)) * up[i];
}

// One thread per token: its experts and their weights (kernels::route_token, as the CPU).
__global__ void route_kernel(const float* logits, int64_t n, int64_t count, int64_t used,
                             bool renormalize, int32_t* ids, float* weights) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n) return;
  kernels::route_token(logits + t * count, int32_t(count), int32_t(used), renormalize,
                       ids + t * used, weights + t * used);
}

// One thread per element of the m gathered rows: row i is x's row slots[i] / used.
__global__ void gather_rows_kernel(const float* x, const int32_t* slots, int64_t m, int64_t used,
                                   int64_t dim, float* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= m * dim) return;
  out[i] = x[int64_t(slots[i / dim]) / used * dim + i % dim];
}

// One thread per element: y's row slots[i] / used += weights[slots[i]] * x's row i. The rows of
// one launch are distinct tokens (a token routes to an expert once): no two threads add to one.
__global__ void add_weighted_rows_kernel(const float* x, const int32_t* slots, const float* weights,
                                         int64_t m, int64_t used, int64_t dim, float* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= m * dim) return;
  const int32_t slot = slots[i / dim];
  y[int64_t(slot) / used * dim + i % dim] += weights[slot] * x[i];
}

}  // namespace

void route(const float* logits, int64_t n, int64_t count, int64_t used, bool renormalize,
           int32_t* ids, float* weights) {
  if (n == 0) return;
  LC_LAUNCH(grid_for(n), kThreads, 0, route_kernel)
  (logits, n, count, used, renormalize, ids, weights);
  check_launch("route");
}

void gather_rows(const float* x, const int32_t* slots, int64_t m, int64_t used, int64_t dim,
                 float* out) {
  if (m == 0) return;
  LC_LAUNCH(grid_for(m * dim), kThreads, 0, gather_rows_kernel)(x, slots, m, used, dim, out);
  check_launch("gather_rows");
}

void add_weighted_rows(const float* x, const int32_t* slots, const float* weights, int64_t m,
                       int64_t used, int64_t dim, float* y) {
  if (m == 0) return;
  LC_LAUNCH(grid_for(m * dim), kThreads, 0, add_weighted_rows_kernel)
  (x, slots, weights, m, used, dim, y);
  check_launch("add_weighted_rows");
}

void rms_norm(const float* x, const float* w, float eps, int64_t n_rows, int64_t dim, float* y) {
  if (n_rows == 0) return;
  LC_LAUNCH(unsigned(n_rows), kThreads, 0, rms_norm_kernel)(x, w, eps, dim, y);
  check_launch("rms_norm");
}

void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
          const float* inv_freq, float amplitude, const int32_t* pos, bool halves) {
  const int64_t n = n_tokens * n_heads * (n_rot / 2);
  if (n == 0) return;
  LC_LAUNCH(grid_for(n), kThreads, 0, rope_kernel)
  (x, n_tokens, n_heads, head_dim, n_rot, inv_freq, amplitude, pos, halves);
  check_launch("rope");
}

void add(float* y, const float* x, int64_t n) {
  if (n == 0) return;
  LC_LAUNCH(grid_for(n), kThreads, 0, add_kernel)(y, x, n);
  check_launch("add");
}

void add_rows(float* y, const float* b, int64_t n_rows, int64_t dim) {
  const int64_t n = n_rows * dim;
  if (n == 0) return;
  LC_LAUNCH(grid_for(n), kThreads, 0, add_rows_kernel)(y, b, n, dim);
  check_launch("add_rows");
}

void scale(float* y, float alpha, int64_t n) {
  if (n == 0) return;
  LC_LAUNCH(grid_for(n), kThreads, 0, scale_kernel)(y, alpha, n);
  check_launch("scale");
}

void gated(float* gate, const float* up, int64_t n, bool gelu) {
  if (n == 0) return;
  LC_LAUNCH(grid_for(n), kThreads, 0, gated_kernel)(gate, up, n, gelu);
  check_launch("gated");
}

}  // namespace longctx::cuda
