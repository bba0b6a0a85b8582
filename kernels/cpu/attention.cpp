#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/vec.h"

namespace longctx::cpu {
namespace {

constexpr int64_t kKeyTile = 32;    // keys decoded to float together
constexpr int64_t kQueryBlock = 8;  // queries sharing each decoded key tile
constexpr int64_t kMaxHeadDim = 256;
constexpr int64_t kMaxGroup = 16;  // query heads per KV head
constexpr int64_t kMaxRows = kQueryBlock * kMaxGroup;

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
  const int64_t n_blocks = (a.n_q + kQueryBlock - 1) / kQueryBlock;
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t g = 0; g < a.n_kv_head; ++g) {
    for (int64_t qb = 0; qb < n_blocks; ++qb) {
      const int64_t q0 = qb * kQueryBlock;
      const int64_t nq = std::min(kQueryBlock, a.n_q - q0);
      const int64_t rows = nq * group;
      alignas(64) float acc[kMaxRows * kMaxHeadDim];
      alignas(64) float kf[kKeyTile * kMaxHeadDim];
      alignas(64) float vf[kKeyTile * kMaxHeadDim];
      RowState state[kMaxRows];
      std::fill(acc, acc + rows * hd, 0.0f);
      std::fill(state, state + rows, RowState{});
      const int64_t row_bytes = kernels::kv_row_bytes(a.kv_type, hd);
      const uint8_t* k_head = a.k + g * a.capacity * row_bytes;
      const uint8_t* v_head = a.v + g * a.capacity * row_bytes;
      const int32_t* key_pos = a.key_pos + g * a.capacity;
      const int32_t last_pos = a.q_pos[q0 + nq - 1];
      const int32_t first_pos = a.q_pos[q0];
      const int64_t sel = (a.span_q_block > 0 ? q0 / a.span_q_block : 0) * a.n_kv_head + g;
      for (int32_t s = a.span_offsets[sel]; s < a.span_offsets[sel + 1]; ++s) {
        for (int32_t start = a.spans[s].begin; start < a.spans[s].end; start += int32_t(kKeyTile)) {
          const int32_t stop = std::min<int32_t>(a.spans[s].end, start + int32_t(kKeyTile));
          // Keep only the keys some query of the block can see; skip the tile when none can.
          int32_t slots[kKeyTile];
          int n = 0;
          for (int32_t slot = start; slot < stop; ++slot) {
            int32_t kp = key_pos[slot];
            if (kp > last_pos || (a.window > 0 && first_pos - kp >= a.window)) continue;
            slots[n++] = slot;
          }
          if (n == 0) continue;
          decode_rows(a.kv_type, k_head, row_bytes, slots, n, kf, hd);
          decode_rows(a.kv_type, v_head, row_bytes, slots, n, vf, hd);
          for (int64_t qi = 0; qi < nq; ++qi) {
            const int32_t pos = a.q_pos[q0 + qi];
            for (int64_t hh = 0; hh < group; ++hh) {
              const int64_t h = g * group + hh;
              const int64_t row = qi * group + hh;
              const float* q = a.q + ((q0 + qi) * a.n_head + h) * hd;
              float scores[kKeyTile];
              float tile_max = -INFINITY;
              for (int j = 0; j < n; ++j) {
                int32_t kp = key_pos[slots[j]];
                bool visible = kp <= pos && !(a.window > 0 && pos - kp >= a.window);
                scores[j] = visible ? a.scale * dot_f32(q, kf + j * hd, hd) : -INFINITY;
                tile_max = std::fmax(tile_max, scores[j]);
              }
              if (std::isinf(tile_max)) continue;
              RowState& st = state[row];
              float* out = acc + row * hd;
              const float new_max = std::fmax(st.max, tile_max);
              if (!std::isinf(st.max) && st.max != new_max) {
                float correction = std::exp(st.max - new_max);
                scale_f32(out, correction, hd);
                st.denom *= correction;
              }
              st.max = new_max;
              for (int j = 0; j < n; ++j) {
                if (std::isinf(scores[j])) continue;
                float p = std::exp(scores[j] - new_max);
                st.denom += p;
                axpy_f32(p, vf + j * hd, out, hd);
              }
            }
          }
        }
      }
      for (int64_t qi = 0; qi < nq; ++qi) {
        for (int64_t hh = 0; hh < group; ++hh) {
          const int64_t row = qi * group + hh;
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

// The same masking and scores as attention(), a second time, turned into probabilities with the
// normalisers attention() recorded. Parallel over KV heads: each writes only its own mass row.
void attention_mass(const AttentionArgs& a, int64_t q_begin, float* mass) {
  const int64_t group = a.n_head / a.n_kv_head;
  const int64_t hd = a.head_dim;
  const int64_t row_bytes = kernels::kv_row_bytes(a.kv_type, hd);
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < a.n_kv_head; ++g) {
    alignas(64) float kf[kKeyTile * kMaxHeadDim];
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
        for (int64_t qi = q_begin; qi < a.n_q; ++qi) {
          const int32_t pos = a.q_pos[qi];
          for (int64_t hh = 0; hh < group; ++hh) {
            const int64_t h = g * group + hh;
            const float* q = a.q + (qi * a.n_head + h) * hd;
            const float lse = a.lse[qi * a.n_head + h];
            if (std::isinf(lse)) continue;
            for (int j = 0; j < n; ++j) {
              int32_t kp = key_pos[slots[j]];
              if (kp > pos || (a.window > 0 && pos - kp >= a.window)) continue;
              m[slots[j]] += std::exp(a.scale * dot_f32(q, kf + j * hd, hd) - lse);
            }
          }
        }
      }
    }
  }
}

}  // namespace longctx::cpu
