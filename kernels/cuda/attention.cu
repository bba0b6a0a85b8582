// KV cache writes and attention on the device: the span-sparse flash kernel every policy's
// selection runs through (dense = one span), split over the keys for decode, its combine step,
// the statistics pass and top-k. Masking and softmax follow kernels/cpu/attention.cpp.
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cmath>

#include "kernels/common/attention_math.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/launch.h"
#include "support/error.h"

namespace longctx::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kTile = 32;  // keys per shared-memory tile
constexpr int kMaxDim = int(kernels::kMaxHeadDim);
constexpr int kMaxPerLane = kMaxDim / kWarp;
constexpr int kMaxRows = int(kernels::kMaxGroup);  // (query, head) rows per CTA: one warp each

unsigned blocks_for(int64_t n, int threads) {
  return unsigned((n + threads - 1) / threads);
}

__global__ void kv_append_kernel(kernels::KvType type, const float* src, int64_t n_tokens,
                                 int64_t n_kv_head, int64_t dim, uint8_t* cache, int64_t capacity,
                                 int64_t first_slot, const int32_t* pos, int32_t* key_pos) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_tokens * n_kv_head) return;
  const int64_t t = i / n_kv_head, g = i % n_kv_head;
  const int64_t slot = g * capacity + first_slot + t;
  kernels::encode_kv_row(type, src + i * dim, cache + slot * kernels::kv_row_bytes(type, dim), dim);
  key_pos[slot] = pos[t];
}

// One thread per move and phase: gather copies the moved rows out, scatter writes them back (keys
// turned when cos is given).
__global__ void kv_gather_kernel(int64_t k_row, int64_t v_row, const uint8_t* k, const uint8_t* v,
                                 const int32_t* key_pos, int64_t capacity, const int32_t* moves,
                                 int64_t n_moves, uint8_t* sk, uint8_t* sv, int32_t* spos) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_moves) return;
  const int64_t src = int64_t(moves[3 * i]) * capacity + moves[3 * i + 1];
  for (int64_t b = 0; b < k_row; ++b) sk[i * k_row + b] = k[src * k_row + b];
  for (int64_t b = 0; b < v_row; ++b) sv[i * v_row + b] = v[src * v_row + b];
  spos[i] = key_pos[src];
}

__global__ void kv_scatter_kernel(kernels::KvType type, int64_t head_dim, int64_t k_row,
                                  int64_t v_row, uint8_t* k, uint8_t* v, int32_t* key_pos,
                                  int64_t capacity, const int32_t* moves, int64_t n_moves,
                                  const uint8_t* sk, const uint8_t* sv, const int32_t* spos,
                                  const float* cos, const float* sin, int64_t n_rot, bool halves,
                                  int32_t shift) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_moves) return;
  const int64_t dst = int64_t(moves[3 * i]) * capacity + moves[3 * i + 2];
  if (cos) {
    kernels::rotate_kv_row(type, sk + i * k_row, k + dst * k_row, head_dim, cos, sin, n_rot,
                           halves);
    key_pos[dst] = spos[i] - shift;
  } else {
    for (int64_t b = 0; b < k_row; ++b) k[dst * k_row + b] = sk[i * k_row + b];
    key_pos[dst] = spos[i];
  }
  for (int64_t b = 0; b < v_row; ++b) v[dst * v_row + b] = sv[i * v_row + b];
}

__device__ inline float warp_max(float v) {
  for (int off = kWarp / 2; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

__device__ inline float warp_sum(float v) {
  for (int off = kWarp / 2; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Grid: (blocks of `bq` queries, KV heads, key splits); one warp per (query, head of the group).
// Each tile of up to 32 selected keys is decoded into shared memory once for all the CTA's rows.
// Writes per row and split: the unnormalised sum (head_dim), the running max and the denominator.
__global__ void attention_kernel(AttentionArgs a, int bq, int n_splits, float* partial) {
  LC_DYNAMIC_SHARED(float, smem);
  const int64_t hd = a.head_dim, stride = hd + 1;  // +1: lanes reading a column hit 32 banks
  float* ks = smem;
  float* vs = ks + kTile * stride;
  float* qs = vs + kTile * stride;  // [rows][hd]
  __shared__ int32_t kpos[kTile];

  const int64_t group = a.n_head / a.n_kv_head;
  const int64_t g = blockIdx.y, split = blockIdx.z;
  const int64_t q0 = int64_t(blockIdx.x) * bq;
  const int warp = threadIdx.y, lane = threadIdx.x;
  const int tid = warp * kWarp + lane;
  const int64_t qi = q0 + warp / group, h = g * group + warp % group;
  const bool active = qi < a.n_q;
  const int32_t qp = active ? a.q_pos[qi] : 0;
  if (active) {
    for (int64_t d = lane; d < hd; d += kWarp)
      qs[warp * hd + d] = a.q[(qi * a.n_head + h) * hd + d];
  }
  const int64_t sel = (a.span_q_block > 0 ? q0 / a.span_q_block : 0) * a.n_kv_head + g;
  const int32_t s_begin = a.span_offsets[sel], s_end = a.span_offsets[sel + 1];
  int64_t total = 0;
  for (int32_t s = s_begin; s < s_end; ++s) total += a.spans[s].end - a.spans[s].begin;
  const auto [lo, hi] = kernels::split_share(total, n_splits, split);

  const int64_t row_bytes = kernels::kv_row_bytes(a.kv_type, hd);
  const int64_t stored = g / a.kv_repeat;  // per-query-head spans: the stored head they read
  const uint8_t* k_head = a.k + stored * a.capacity * row_bytes;
  const uint8_t* v_head = a.v + stored * a.capacity * row_bytes;
  float m = -INFINITY, l = 0.0f, acc[kMaxPerLane];
  for (int i = 0; i < kMaxPerLane; ++i) acc[i] = 0.0f;

  int64_t seen = 0;  // selected keys before span s
  for (int32_t s = s_begin; s < s_end && seen < hi; ++s) {
    const int64_t len = a.spans[s].end - a.spans[s].begin;
    const int64_t from = max(lo, seen) - seen, to = min(hi, seen + len) - seen;
    for (int64_t t0 = from; t0 < to; t0 += kTile) {
      const int n = to - t0 < kTile ? int(to - t0) : kTile;
      const int32_t slot0 = a.spans[s].begin + int32_t(t0);
      __syncthreads();  // the previous tile is consumed
      // A warp per row, lanes over its elements: neighbouring lanes read neighbouring bytes.
      for (int r = warp; r < 2 * n; r += int(blockDim.y)) {
        const int j = r % n;
        const uint8_t* src = (r < n ? k_head : v_head) + int64_t(slot0 + j) * row_bytes;
        float* dst = (r < n ? ks : vs) + j * stride;
        for (int64_t d = lane; d < hd; d += kWarp) dst[d] = kernels::kv_element(a.kv_type, src, d);
      }
      if (tid < n) kpos[tid] = a.key_pos[stored * a.capacity + slot0 + tid];
      __syncthreads();
      if (!active) continue;
      float score = -INFINITY;
      if (lane < n && kernels::key_visible(kpos[lane], qp, a.window)) {
        float dot = 0.0f;
        for (int64_t d = 0; d < hd; ++d) dot += qs[warp * hd + d] * ks[lane * stride + d];
        score = a.scale * dot;
        if (a.softcap > 0) score = a.softcap * tanhf(score / a.softcap);
      }
      const float tile_max = warp_max(score);
      if (tile_max == -INFINITY) continue;
      const float m_new = fmaxf(m, tile_max);
      const float corr = m == -INFINITY ? 1.0f : expf(m - m_new);
      const float p = score == -INFINITY ? 0.0f : expf(score - m_new);
      l = l * corr + warp_sum(p);
      m = m_new;
      for (int i = 0; i < kMaxPerLane; ++i) acc[i] *= corr;
      for (int j = 0; j < n; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
        if (pj == 0.0f) continue;
        for (int i = 0; i < kMaxPerLane; ++i) {
          const int64_t d = lane + int64_t(i) * kWarp;
          if (d < hd) acc[i] += pj * vs[j * stride + d];
        }
      }
    }
    seen += len;
  }
  if (!active) return;
  float* out = partial + ((qi * a.n_head + h) * n_splits + split) * kernels::partial_stride(hd);
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int64_t d = lane + int64_t(i) * kWarp;
    if (d < hd) out[d] = acc[i];
  }
  if (lane == 0) {
    out[hd] = m;
    out[hd + 1] = l;
  }
}

// One block per (query, head): merges the splits' partial sums under their common maximum.
__global__ void combine_kernel(AttentionArgs a, int n_splits, const float* partial) {
  const int64_t row = blockIdx.x, hd = a.head_dim, stride = kernels::partial_stride(hd);
  const float* p = partial + row * n_splits * stride;
  const float mx = kernels::merge_max(p, n_splits, hd);
  float denom = 0.0f;
  for (int s = 0; s < n_splits; ++s)
    denom += p[s * stride + hd + 1] * kernels::merge_weight(p, s, hd, mx);
  const float inv = denom > 0.0f ? 1.0f / denom : 0.0f;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float sum = 0.0f;
    for (int s = 0; s < n_splits; ++s) {
      const float w = kernels::merge_weight(p, s, hd, mx);
      if (w != 0.0f) sum += p[s * stride + d] * w;
    }
    a.out[row * hd + d] = sum * inv;
  }
  if (a.lse && threadIdx.x == 0) a.lse[row] = kernels::merged_lse(mx, denom);
}

// One thread per selected key of KV head blockIdx.y: its probability under every observed query
// and head of the group, summed (each slot belongs to one thread: no atomics).
__global__ void mass_kernel(AttentionArgs a, int64_t q_begin, float* mass) {
  const int64_t g = blockIdx.y, hd = a.head_dim, group = a.n_head / a.n_kv_head;
  int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int32_t slot = -1;
  for (int32_t s = a.span_offsets[g]; s < a.span_offsets[g + 1]; ++s) {
    const int64_t len = a.spans[s].end - a.spans[s].begin;
    if (idx < len) {
      slot = a.spans[s].begin + int32_t(idx);
      break;
    }
    idx -= len;
  }
  if (slot < 0) return;
  float k[kMaxDim];
  const int64_t row_bytes = kernels::kv_row_bytes(a.kv_type, hd);
  kernels::decode_kv_row(a.kv_type, a.k + (g * a.capacity + slot) * row_bytes, k, hd);
  const int32_t kp = a.key_pos[g * a.capacity + slot];
  float total = 0.0f;
  for (int64_t hh = 0; hh < group; ++hh) {
    const int64_t h = g * group + hh;
    float sum = 0.0f;
    for (int64_t qi = q_begin; qi < a.n_q; ++qi) {
      if (!kernels::key_visible(kp, a.q_pos[qi], a.window)) continue;
      const float lse = a.lse[qi * a.n_head + h];
      if (isinf(lse)) continue;
      const float* q = a.q + (qi * a.n_head + h) * hd;
      float dot = 0.0f;
      for (int64_t d = 0; d < hd; ++d) dot += q[d] * k[d];
      float score = a.scale * dot;
      if (a.softcap > 0) score = a.softcap * tanhf(score / a.softcap);
      sum += expf(score - lse);
    }
    total = a.mass_max ? fmaxf(total, sum) : total + sum;
  }
  float& dst = mass[g * a.capacity + slot];
  dst = a.mass_max ? fmaxf(dst, total) : dst + total;
}

__global__ void iota_kernel(int32_t* out, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = int32_t(i);
}

}  // namespace

void kv_append(kernels::KvType type, const float* src, int64_t n_tokens, int64_t n_kv_head,
               int64_t dim, uint8_t* cache, int64_t capacity, int64_t first_slot,
               const int32_t* pos, int32_t* key_pos) {
  const int64_t n = n_tokens * n_kv_head;
  if (n == 0) return;
  LC_LAUNCH(blocks_for(n, 64), 64, 0, kv_append_kernel)
  (type, src, n_tokens, n_kv_head, dim, cache, capacity, first_slot, pos, key_pos);
  check_launch("kv_append");
}

void kv_move(kernels::KvType type, uint8_t* k, uint8_t* v, int32_t* key_pos, int64_t capacity,
             int64_t head_dim, int64_t value_dim, const int32_t* moves, int64_t n_moves,
             const float* cos, const float* sin, int64_t n_rot, bool halves, int32_t shift,
             KvMoveWorkspace& ws) {
  if (n_moves == 0) return;
  if (head_dim > kMaxDim) throw Error("CUDA kv_move: head_dim above 256");
  const int64_t k_row = kernels::kv_row_bytes(type, head_dim);
  const int64_t v_row = kernels::kv_row_bytes(type, value_dim);
  ws.k.resize(size_t(n_moves * k_row));
  ws.v.resize(size_t(n_moves * v_row));
  ws.pos.resize(size_t(n_moves));
  const unsigned grid = blocks_for(n_moves, 64);
  LC_LAUNCH(grid, 64, 0, kv_gather_kernel)
  (k_row, v_row, k, v, key_pos, capacity, moves, n_moves, ws.k.get(), ws.v.get(), ws.pos.get());
  check_launch("kv_move gather");
  LC_LAUNCH(grid, 64, 0, kv_scatter_kernel)
  (type, head_dim, k_row, v_row, k, v, key_pos, capacity, moves, n_moves, ws.k.get(), ws.v.get(),
   ws.pos.get(), cos, sin, n_rot, halves, shift);
  check_launch("kv_move scatter");
}

void attention(const AttentionArgs& a, AttentionWorkspace& ws) {
  if (a.n_q == 0) return;
  if (a.head_dim > kMaxDim) throw Error("CUDA attention: head_dim above 256");
  const int64_t group = a.n_head / a.n_kv_head;
  if (group > kMaxRows) throw Error("CUDA attention: more than 16 query heads per KV head");
  // Queries per CTA: a power of two (so a block never straddles a selection's query blocks, which
  // are multiples of 8) with at most 16 rows.
  int bq = 8;
  while (bq > 1 && bq * group > kMaxRows) bq /= 2;
  const int64_t row_blocks = (a.n_q + bq - 1) / bq;
  // Enough CTAs to fill the device when few queries (decode): split the keys, 128 at least each.
  int64_t splits =
      std::max<int64_t>(1, std::min<int64_t>((a.max_selected + 127) / 128,
                                             512 / std::max<int64_t>(1, row_blocks * a.n_kv_head)));
  splits = std::min<int64_t>(splits, 64);
  ws.partial.resize(size_t(a.n_q * a.n_head * splits * kernels::partial_stride(a.head_dim)));
  const int rows = int(bq * group);
  const size_t smem = size_t(2 * kTile * (a.head_dim + 1) + rows * a.head_dim) * sizeof(float);
  // Once per process, safely from several host threads (sessions served side by side).
  static const cudaError_t raised =
      cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           int(2 * kTile * (kMaxDim + 1) + kMaxRows * kMaxDim) * 4);
  check(raised, "raise the attention kernel's shared memory");
  dim3 grid(unsigned(row_blocks), unsigned(a.n_kv_head), unsigned(splits));
  LC_LAUNCH(grid, dim3(kWarp, rows), smem, attention_kernel)(a, bq, int(splits), ws.partial.get());
  check_launch("attention");
  LC_LAUNCH(unsigned(a.n_q * a.n_head), 64, 0, combine_kernel)(a, int(splits), ws.partial.get());
  check_launch("attention combine");
}

void attention_mass(const AttentionArgs& a, int64_t q_begin, float* mass) {
  if (a.kv_repeat != 1) throw Error("internal: attention statistics of per-query-head spans");
  if (a.max_selected == 0 || q_begin >= a.n_q) return;
  dim3 grid(blocks_for(a.max_selected, 128), unsigned(a.n_kv_head));
  LC_LAUNCH(grid, 128, 0, mass_kernel)(a, q_begin, mass);
  check_launch("attention_mass");
}

void top_k(const float* scores, int64_t n, int64_t k, int32_t* out) {
  k = std::clamp<int64_t>(k, 0, n);
  if (k == 0) return;
  Buffer<int32_t> idx(static_cast<size_t>(n)), idx_sorted(static_cast<size_t>(n));
  Buffer<float> keys_sorted(static_cast<size_t>(n));
  LC_LAUNCH(blocks_for(n, 256), 256, 0, iota_kernel)(idx.get(), n);
  check_launch("iota");
  // Radix sort is stable: equal scores keep the lower index first, as the CPU's rule.
  size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortPairsDescending(nullptr, temp_bytes, scores, keys_sorted.get(),
                                                  idx.get(), idx_sorted.get(), int(n)),
        "top_k sort size");
  Buffer<uint8_t> temp(temp_bytes);
  check(cub::DeviceRadixSort::SortPairsDescending(temp.get(), temp_bytes, scores, keys_sorted.get(),
                                                  idx.get(), idx_sorted.get(), int(n)),
        "top_k sort");
  size_t temp2 = 0;
  check(cub::DeviceRadixSort::SortKeys(nullptr, temp2, idx_sorted.get(), out, int(k)),
        "top_k order size");
  Buffer<uint8_t> temp_b(temp2);
  check(cub::DeviceRadixSort::SortKeys(temp_b.get(), temp2, idx_sorted.get(), out, int(k)),
        "top_k order");
  check(cudaDeviceSynchronize(), "top_k");
}

}  // namespace longctx::cuda
