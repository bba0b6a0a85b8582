// The inner loops of the tiled attention kernel, over one tile of up to 32 keys: the scores of
// one query against the whole tile, their exponentials, and the tile's values summed into the
// query's accumulator. AVX-512 paths with a portable fallback, chosen at run time like vec.h.
#pragma once

#include <cstdint>

namespace longctx::cpu::tile {

inline constexpr int kKeys = 32;

// Transposes n <= kKeys decoded rows [n][dim] into kt [dim][kKeys], zero past the n keys, the
// layout scores() reads: one multiply-add per dimension covers the whole tile.
void transpose(const float* rows, int n, int64_t dim, float* kt);

// s[j] = scale * sum_d q[d] * kt[d * kKeys + j] for every j < kKeys.
void scores(const float* q, const float* kt, int64_t dim, float scale, float* s);

// The largest of s[0 .. n), -inf when n == 0.
float max(const float* s, int n);

// p[j] = exp(s[j] - max) for j < n (s[j] = -inf gives 0); returns the sum of the p[j].
float exp_sum(const float* s, int n, float max, float* p);

// out[d] = c * out[d] + sum_{j < n} p[j] * v[j * dim + d]: rescales the running sum by the
// online softmax's correction and adds the tile, keeping the output row in registers.
void accumulate(const float* p, const float* v, int n, int64_t dim, float c, float* out);

// Query rows handled together by the two functions below (on AVX-512; elsewhere row by row).
inline constexpr int kRows = 4;

// scores() for rows <= kRows query rows q[r], into s[r * kKeys + j]; each row's result is the same
// as scores() gives it alone.
void scores_rows(const float* const* q, int rows, const float* kt, int64_t dim, float scale,
                 float* s);

// accumulate() for rows <= kRows rows, row r with p[r * kKeys + j], correction c[r] and output
// out[r]; each row's result is the same as accumulate() gives it alone.
void accumulate_rows(const float* p, int rows, const float* v, int n, int64_t dim, const float* c,
                     float* const* out);

}  // namespace longctx::cpu::tile
