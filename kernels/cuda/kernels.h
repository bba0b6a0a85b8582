// The CUDA backend's operations, callable from host C++: every pointer is device memory, every
// call is asynchronous on the default stream (the caller synchronizes when it copies results
// back). Each has a CPU counterpart in kernels/cpu; tests/test_cuda.cpp compares the two.
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "kernels/common/attention_args.h"
#include "kernels/common/matrix_view.h"
#include "kernels/cuda/device.h"

namespace longctx::cuda {

using kernels::MatrixView;

// --- matrices (matmul.cu) ----------------------------------------------------------------------
// A weight matrix uploaded in its GGUF block format: MatrixView with a device `data`.

// Up to this many tokens a product is a quantized matrix-vector kernel reading the blocks in
// place; above it the rows are dequantized to floats in chunks and multiplied by cuBLAS.
inline constexpr int64_t kGemvMaxTokens = 8;

// What the cuBLAS path multiplies: rows dequantized to floats (SGEMM), or rows and activations
// rounded to bfloat16 for the tensor cores, accumulated in float (GemmEx).
enum class GemmPrecision { F32, BF16 };
// "f32" or "bf16"; throws longctx::Error otherwise.
GemmPrecision parse_gemm_precision(const char* name);

// Scratch of the cuBLAS path and its handle, one per session.
struct MatmulWorkspace {
  cublasHandle_t handle = nullptr;
  GemmPrecision precision = GemmPrecision::BF16;
  Buffer<float> rows;          // dequantized rows of one chunk (F32)
  Buffer<uint16_t> rows_bf16;  // the same in bfloat16 (BF16)
  Buffer<uint16_t> x_bf16;     // the activations in bfloat16 (BF16)
  MatmulWorkspace();
  ~MatmulWorkspace();
  MatmulWorkspace(const MatmulWorkspace&) = delete;
  MatmulWorkspace& operator=(const MatmulWorkspace&) = delete;
};

// y[t * w.rows + r] = sum_c w[r][c] * x[t * w.cols + c] for t < n_tokens.
void matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y, MatmulWorkspace& ws);
// The matrix-vector kernel alone (any n_tokens <= kGemvMaxTokens), for tests and benchmarks.
void gemv(const MatrixView& w, const float* x, int64_t n_tokens, float* y);
// out[t] = row tokens[t] of w as floats (embedding lookup).
void embed(const MatrixView& w, const int32_t* tokens, int64_t n_tokens, float* out);

// --- element-wise and per-row operations (ops.cu) ---------------------------------------------
// y[r] = x[r] / rms(x[r]) * w, rows of `dim`; y may equal x.
void rms_norm(const float* x, const float* w, float eps, int64_t n_rows, int64_t dim, float* y);
// Rotates the first n_rot dimensions of each head of each token by position pos[t] * inv_freq[i]
// and multiplies them by `amplitude`; halves: pairs (i, i + n_rot/2) (NeoX) instead of (2i, 2i+1).
void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
          const float* inv_freq, float amplitude, const int32_t* pos, bool halves);
// y[i] += x[i]
void add(float* y, const float* x, int64_t n);
// y[t][i] += b[i] for rows of dim
void add_rows(float* y, const float* b, int64_t n_rows, int64_t dim);
void scale(float* y, float alpha, int64_t n);
// gate[i] = act(gate[i]) * up[i], act = GELU (tanh form) or SiLU.
void gated(float* gate, const float* up, int64_t n, bool gelu);

// --- routed experts (ops.cu) ---------------------------------------------------------------------
// Each of n tokens' `used` experts of the largest logits [t][count] and their softmax weights,
// renormalised over the chosen ones when asked: ids, weights [t][used] (kernels::route_token).
void route(const float* logits, int64_t n, int64_t count, int64_t used, bool renormalize,
           int32_t* ids, float* weights);
// out[i] = row slots[i] / used of x (rows of dim), i < m: the tokens routed to one expert.
void gather_rows(const float* x, const int32_t* slots, int64_t m, int64_t used, int64_t dim,
                 float* out);
// y[slots[i] / used] += weights[slots[i]] * x[i] (rows of dim), i < m; the m tokens distinct.
void add_weighted_rows(const float* x, const int32_t* slots, const float* weights, int64_t m,
                       int64_t used, int64_t dim, float* y);

// --- KV cache and attention (attention.cu) -----------------------------------------------------
// Writes n_tokens rows of each KV head, src [t][n_kv_head][dim], into the cache
// [n_kv_head][capacity] rows at slots first_slot + t, in the cache's precision, and their
// positions into key_pos [n_kv_head][capacity].
void kv_append(kernels::KvType type, const float* src, int64_t n_tokens, int64_t n_kv_head,
               int64_t dim, uint8_t* cache, int64_t capacity, int64_t first_slot,
               const int32_t* pos, int32_t* key_pos);

// Scratch of kv_move: the moved rows, staged so that overlapping moves read before they write.
struct KvMoveWorkspace {
  Buffer<uint8_t> k, v;
  Buffer<int32_t> pos;
};

// Moves slots of one layer's cache ([n_kv_head][capacity] rows of k and v, key_pos alike): move i
// is moves[3i .. 3i+2] = {head, from, to}; every source is read before any destination is written
// (a range eviction's moves overlap). With cos/sin given (n_rot / 2 each), moved keys are decoded,
// turned pair by pair (kernels::rotate_pairs) and re-encoded, and their positions lowered by shift.
void kv_move(kernels::KvType type, uint8_t* k, uint8_t* v, int32_t* key_pos, int64_t capacity,
             int64_t head_dim, int64_t value_dim, const int32_t* moves, int64_t n_moves,
             const float* cos, const float* sin, int64_t n_rot, bool halves, int32_t shift,
             KvMoveWorkspace& ws);

using kernels::AttentionArgs;  // device pointers
using kernels::KeySpan;

// Scratch for split-K partial results, one per session.
struct AttentionWorkspace {
  Buffer<float> partial;  // [n_q][n_head][splits][head_dim + 2]
};

// Flash-style attention over the span selection: key tiles decoded to shared memory once per
// block of queries sharing a KV head, online softmax per (query, head), split over the keys when
// few queries (decode) so that every multiprocessor works, then the splits combined.
void attention(const AttentionArgs& a, AttentionWorkspace& ws);
// mass[g * capacity + slot] += probability of each selected key, summed over the query heads of
// KV head g and queries [q_begin, n_q) (a.lse as attention() wrote it; span_q_block == 0).
void attention_mass(const AttentionArgs& a, int64_t q_begin, float* mass);
// The indices of the k largest of scores[0 .. n) (ties: the lower index), ascending in out[0 .. k),
// as the CPU policies' top_k. Synchronous (it sizes CUB's scratch).
void top_k(const float* scores, int64_t n, int64_t k, int32_t* out);

// --- Quest's pages on the device (pages.cu) --------------------------------------------------
// Element-wise bounds of pages [first, first + n) of `page` slots each, for every KV head, from
// the cache's keys: mins / maxs [n_kv_head][max_pages][head_dim].
void page_bounds(kernels::KvType type, const uint8_t* k, int64_t capacity, int64_t n_kv_head,
                 int64_t head_dim, int64_t page, int64_t first, int64_t n, int64_t max_pages,
                 float* mins, float* maxs);

// Scratch of select_pages, sized at its first use for max_pages.
struct PageWorkspace {
  Buffer<float> scores, sorted_scores;
  Buffer<int32_t> pages, sorted_pages, offsets;
  Buffer<uint8_t> temp;
};

// Ranks pages [0, candidates) of each KV head by their bound against q (one token,
// [n_head][head_dim]; the largest over the head's group), keeps the `pick` best (ties: the lower
// page, as the CPU's top_k) and writes spans[g * (pick + 1) ...]: those pages ascending, then
// [recent_begin, n_cached). The kernel reads span_offsets[g] = g * (pick + 1).
void select_pages(const float* q, int64_t n_head, int64_t n_kv_head, int64_t head_dim,
                  const float* mins, const float* maxs, int64_t max_pages, int64_t candidates,
                  int64_t pick, int64_t page, int64_t recent_begin, int64_t n_cached,
                  KeySpan* spans, PageWorkspace& ws);

}  // namespace longctx::cuda
