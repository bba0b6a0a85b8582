#include "kernels/cpu/attention.h"

#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "kernels/common/attention_math.h"
#include "kernels/cpu/attention_tile.h"
#include "kernels/cpu/threads.h"
#include "kernels/cpu/vec.h"
#include "support/error.h"

namespace longctx::cpu {
namespace {

constexpr int64_t kKeyTile = tile::kKeys;  // keys decoded to float together
constexpr int64_t kQueryBlock = 32;        // queries sharing each decoded key tile, at most
using kernels::kMaxHeadDim;
constexpr int64_t kMinSplitKeys = 256;  // keys per split of a decode step, at least
constexpr int64_t kTransposeRows = 4;   // rows sharing a tile from which transposing it pays

// Decodes the rows of `n` slots of one head to floats, [n][dim].
void decode_rows(kernels::KvType type, const uint8_t* base, int64_t row_bytes, const int32_t* slots,
                 int n, float* out, int64_t dim) {
  for (int j = 0; j < n; ++j) {
    const uint8_t* row = base + slots[j] * row_bytes;
    if (type == kernels::KvType::F16) {
      f16_to_f32_row(reinterpret_cast<const uint16_t*>(row), out + j * dim, dim);
    } else if (type == kernels::KvType::Q8_0) {
      q8_0_to_f32_row(row, out + j * dim, dim);
    } else {
      q4_0_to_f32_row(row, out + j * dim, dim);
    }
  }
}

// Gemma 2's soft-cap of the scaled scores: cap * tanh(score / cap).
void softcap(float* scores, int n, float cap) {
  for (int j = 0; j < n; ++j) scores[j] = cap * std::tanh(scores[j] / cap);
}

// Running state of one (query, head) row of the online softmax.
struct RowState {
  float max = -INFINITY;
  float denom = 0.0f;
};

}  // namespace

// Work item: one KV head and a block of queries. Each key tile is decoded from half to float once
// and then visited by every query head of the group for every query of the block.
void attention(const AttentionArgs& a) {
  const int64_t group = a.n_head / a.n_kv_head;
  const int64_t hd = a.head_dim;
  // A block of queries must not straddle two of the selection's query blocks (multiples of 8).
  int64_t q_block = kQueryBlock;
  while (a.span_q_block > 0 && a.span_q_block % q_block != 0) q_block /= 2;
  const int64_t n_blocks = (a.n_q + q_block - 1) / q_block;
  // Fewer work items than threads (decode: one per KV head): split each selection's keys so that
  // every thread works, then merge the splits' partial softmax sums (flash-decoding).
  const int64_t threads = partition_threads();  // not the team: the splits fix the floats
  const int64_t n_selections =
      (a.span_q_block > 0 ? (a.n_q + a.span_q_block - 1) / a.span_q_block : 1) * a.n_kv_head;
  int64_t selected = 0;  // keys of the largest selection
  for (int64_t i = 0; i < n_selections; ++i) {
    int64_t keys = 0;
    for (int32_t s = a.span_offsets[i]; s < a.span_offsets[i + 1]; ++s)
      keys += a.spans[s].end - a.spans[s].begin;
    selected = std::max(selected, keys);
  }
  const int64_t items = a.n_kv_head * n_blocks;
  const int64_t n_splits =
      items >= threads ? 1 : std::clamp<int64_t>(selected / kMinSplitKeys, 1, 4 * threads / items);
  thread_local std::vector<float> partial;  // [n_q][n_head][n_splits][hd + 2] when split
  if (n_splits > 1)
    partial.resize(size_t(a.n_q * a.n_head * n_splits * kernels::partial_stride(hd)));
  float* partial_base = partial.data();
#pragma omp parallel for collapse(3) schedule(dynamic)
  for (int64_t g = 0; g < a.n_kv_head; ++g) {
    for (int64_t qb = 0; qb < n_blocks; ++qb) {
      for (int64_t split = 0; split < n_splits; ++split) {
        const int64_t q0 = qb * q_block;
        const int64_t nq = std::min(q_block, a.n_q - q0);
        const int64_t rows = nq * group;
        const bool transposed = rows >= kTransposeRows;
        thread_local std::vector<float> acc_rows;  // [rows][hd]: up to 512 rows of 256
        thread_local std::vector<RowState> state_rows;
        acc_rows.resize(size_t(rows * hd));
        state_rows.resize(size_t(rows));
        float* acc = acc_rows.data();
        RowState* state = state_rows.data();
        alignas(64) float kt[kKeyTile * kMaxHeadDim];  // keys, transposed
        alignas(64) float vf[kKeyTile * kMaxHeadDim];
        std::fill(acc, acc + rows * hd, 0.0f);
        std::fill(state, state + rows, RowState{});
        const int64_t row_bytes = kernels::kv_row_bytes(a.kv_type, hd);
        const int64_t stored = g / a.kv_repeat;
        const uint8_t* k_head = a.k + stored * a.capacity * row_bytes;
        const uint8_t* v_head = a.v + stored * a.capacity * row_bytes;
        const int32_t* key_pos = a.key_pos + stored * a.capacity;
        const int32_t last_pos = a.q_pos[q0 + nq - 1];
        const int32_t first_pos = a.q_pos[q0];
        const int64_t sel = (a.span_q_block > 0 ? q0 / a.span_q_block : 0) * a.n_kv_head + g;
        // This split's share [lo, hi) of the selection's keys, counted across its spans.
        int64_t total = 0;
        for (int32_t s = a.span_offsets[sel]; s < a.span_offsets[sel + 1]; ++s)
          total += a.spans[s].end - a.spans[s].begin;
        const auto [lo, hi] = kernels::split_share(total, n_splits, split);
        int64_t seen = 0;  // keys of the spans before s
        for (int32_t s = a.span_offsets[sel]; s < a.span_offsets[sel + 1] && seen < hi; ++s) {
          const int64_t len = a.spans[s].end - a.spans[s].begin;
          const int32_t first = a.spans[s].begin + int32_t(std::max(lo, seen) - seen);
          const int32_t end =
              a.spans[s].begin + int32_t(std::max<int64_t>(0, std::min(hi, seen + len) - seen));
          seen += len;
          for (int32_t start = first; start < end; start += int32_t(kKeyTile)) {
            const int32_t stop = std::min<int32_t>(end, start + int32_t(kKeyTile));
            // Keep only the keys some query of the block can see; skip the tile when none can.
            int32_t slots[kKeyTile];
            int n = 0;
            for (int32_t slot = start; slot < stop; ++slot) {
              int32_t kp = key_pos[slot];
              if (kp > last_pos || (a.window > 0 && first_pos - kp >= a.window)) continue;
              slots[n++] = slot;
            }
            if (n == 0) continue;
            // Many rows share the tile: transpose the keys once so each row's scores are one
            // multiply-add per dimension. A few rows (decode): plain dot products, no transpose.
            if (transposed) {
              decode_rows(a.kv_type, k_head, row_bytes, slots, n, vf, hd);
              tile::transpose(vf, n, hd, kt);
            } else {
              decode_rows(a.kv_type, k_head, row_bytes, slots, n, kt, hd);
            }
            decode_rows(a.kv_type, v_head, row_bytes, slots, n, vf, hd);
            // The tile needs no mask when every query of the block sees every key of it.
            int32_t lo = INT32_MAX, hi = INT32_MIN;
            for (int j = 0; j < n; ++j) {
              lo = std::min(lo, key_pos[slots[j]]);
              hi = std::max(hi, key_pos[slots[j]]);
            }
            const bool masked = hi > first_pos || (a.window > 0 && last_pos - lo >= a.window);
            // Rows (query, head) in groups of tile::kRows sharing every load of the tile.
            for (int64_t r0 = 0; r0 < rows; r0 += tile::kRows) {
              const int nr = int(std::min<int64_t>(tile::kRows, rows - r0));
              const float* q[tile::kRows];
              for (int i = 0; i < nr; ++i) {
                const int64_t qi = (r0 + i) / group, h = g * group + (r0 + i) % group;
                q[i] = a.q + ((q0 + qi) * a.n_head + h) * hd;
              }
              alignas(64) float scores[tile::kRows * kKeyTile], p[tile::kRows * kKeyTile];
              if (transposed) {
                tile::scores_rows(q, nr, kt, hd, a.scale, scores);
              } else {
                for (int i = 0; i < nr; ++i) {
                  for (int j = 0; j < n; ++j)
                    scores[i * kKeyTile + j] = a.scale * dot_f32(q[i], kt + j * hd, hd);
                }
              }
              // Each row's online softmax; the rows that see a key of the tile are summed below.
              float correction[tile::kRows];
              float* out[tile::kRows];
              int active = 0;
              for (int i = 0; i < nr; ++i) {
                const int64_t row = r0 + i;
                float* s_row = scores + i * kKeyTile;
                if (a.softcap > 0) softcap(s_row, n, a.softcap);
                if (masked) {
                  const int32_t pos = a.q_pos[q0 + row / group];
                  for (int j = 0; j < n; ++j) {
                    if (!kernels::key_visible(key_pos[slots[j]], pos, a.window))
                      s_row[j] = -INFINITY;
                  }
                }
                const float tile_max = tile::max(s_row, n);
                if (std::isinf(tile_max)) continue;
                RowState& st = state[row];
                const float new_max = std::max(st.max, tile_max);
                // Rescales what was summed under the old maximum (nothing yet: any factor).
                correction[active] = std::isinf(st.max) ? 1.0f : std::exp(st.max - new_max);
                st.max = new_max;
                st.denom = st.denom * correction[active] +
                           tile::exp_sum(s_row, n, new_max, p + active * kKeyTile);
                out[active++] = acc + row * hd;
              }
              tile::accumulate_rows(p, active, vf, n, hd, correction, out);
            }
          }
        }
        for (int64_t qi = 0; qi < nq; ++qi) {
          for (int64_t hh = 0; hh < group; ++hh) {
            const int64_t row = qi * group + hh;
            if (n_splits > 1) {  // kept for the merge below
              float* p =
                  partial_base + (((q0 + qi) * a.n_head + g * group + hh) * n_splits + split) *
                                     kernels::partial_stride(hd);
              std::copy(acc + row * hd, acc + (row + 1) * hd, p);
              p[hd] = state[row].max;
              p[hd + 1] = state[row].denom;
              continue;
            }
            float* dst = a.out + ((q0 + qi) * a.n_head + g * group + hh) * hd;
            float inv = state[row].denom > 0 ? 1.0f / state[row].denom : 0.0f;
            for (int64_t d = 0; d < hd; ++d) dst[d] = acc[row * hd + d] * inv;
            if (a.lse) {
              a.lse[(q0 + qi) * a.n_head + g * group + hh] =
                  state[row].denom > 0 ? state[row].max + std::log(state[row].denom) : INFINITY;
            }
          }
        }
      }
    }
  }
  if (n_splits == 1) return;
    // Merge: the splits' sums rescaled to their common maximum.
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < a.n_q * a.n_head; ++row) {
    const int64_t stride = kernels::partial_stride(hd);
    const float* p = partial_base + row * n_splits * stride;
    const float mx = kernels::merge_max(p, n_splits, hd);
    float denom = 0.0f;
    float* dst = a.out + row * hd;
    std::fill(dst, dst + hd, 0.0f);
    if (!std::isinf(mx)) {
      for (int64_t sp = 0; sp < n_splits; ++sp) {
        const float w = kernels::merge_weight(p, sp, hd, mx);
        if (w == 0.0f) continue;
        denom += p[sp * stride + hd + 1] * w;
        axpy_f32(w, p + sp * stride, dst, hd);
      }
    }
    const float inv = denom > 0 ? 1.0f / denom : 0.0f;
    scale_f32(dst, inv, hd);
    if (a.lse) a.lse[row] = kernels::merged_lse(mx, denom);
  }
}

// The same masking and scores as attention(), a second time, turned into probabilities with the
// normalisers attention() recorded. Parallel over KV heads: each writes only its own mass row.
void attention_mass(const AttentionArgs& a, int64_t q_begin, float* mass) {
  if (a.kv_repeat != 1) throw Error("internal: attention statistics of per-query-head spans");
  const int64_t group = a.n_head / a.n_kv_head;
  const int64_t hd = a.head_dim;
  const int64_t row_bytes = kernels::kv_row_bytes(a.kv_type, hd);
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < a.n_kv_head; ++g) {
    alignas(64) float kf[kKeyTile * kMaxHeadDim];
    alignas(64) float kt[kKeyTile * kMaxHeadDim];
    const uint8_t* k_head = a.k + g * a.capacity * row_bytes;
    const int32_t* key_pos = a.key_pos + g * a.capacity;
    float* m = mass + g * a.capacity;
    for (int32_t s = a.span_offsets[g]; s < a.span_offsets[g + 1]; ++s) {
      for (int32_t start = a.spans[s].begin; start < a.spans[s].end; start += int32_t(kKeyTile)) {
        const int32_t stop = std::min<int32_t>(a.spans[s].end, start + int32_t(kKeyTile));
        int32_t slots[kKeyTile];
        int n = 0;
        for (int32_t slot = start; slot < stop; ++slot) slots[n++] = slot;
        decode_rows(a.kv_type, k_head, row_bytes, slots, n, kf, hd);
        tile::transpose(kf, n, hd, kt);
        alignas(64) float head_mass[kKeyTile];
        for (int64_t hh = 0; hh < group; ++hh) {
          const int64_t h = g * group + hh;
          std::fill(head_mass, head_mass + n, 0.0f);
          for (int64_t qi = q_begin; qi < a.n_q; ++qi) {
            const float* q = a.q + (qi * a.n_head + h) * hd;
            const float lse = a.lse[qi * a.n_head + h];
            if (std::isinf(lse)) continue;
            alignas(64) float scores[kKeyTile], p[kKeyTile];
            tile::scores(q, kt, hd, a.scale, scores);
            if (a.softcap > 0) softcap(scores, n, a.softcap);
            for (int j = 0; j < n; ++j) {
              if (!kernels::key_visible(key_pos[slots[j]], a.q_pos[qi], a.window))
                scores[j] = -INFINITY;
            }
            tile::exp_sum(scores, n, lse, p);
            for (int j = 0; j < n; ++j) head_mass[j] += p[j];
          }
          for (int j = 0; j < n; ++j) {
            float& dst = m[slots[j]];
            dst = a.mass_max ? std::max(dst, head_mass[j]) : dst + head_mass[j];
          }
        }
      }
    }
  }
}

}  // namespace longctx::cpu
