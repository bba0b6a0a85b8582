// Quest's page ranking on the device, next to the keys: element-wise page bounds kept as pages
// complete, each page's bound on q.k against the step's query, the best pages per KV head by a
// segmented radix sort, and the spans the attention kernel reads. The page arithmetic is
// kernels/common/page_selection.h, shared with the CPU policy (engine/attention/quest.cpp).
#include <cub/device/device_segmented_radix_sort.cuh>

#include "kernels/common/kv_rows.h"
#include "kernels/common/page_selection.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/launch.h"
#include "support/error.h"

namespace longctx::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kPagesPerCta = 8;  // one warp per page

// Grid (pages, KV heads); threads over the dimensions: the minimum and maximum of each dimension
// over the page's keys, decoded as the CPU decodes them.
__global__ void page_bounds_kernel(kernels::KvType type, const uint8_t* k, int64_t capacity,
                                   int64_t head_dim, int64_t page, int64_t first, int64_t max_pages,
                                   float* mins, float* maxs) {
  const int64_t p = first + blockIdx.x, g = blockIdx.y;
  const int64_t row_bytes = kernels::kv_row_bytes(type, head_dim);
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t s = p * page; s < (p + 1) * page; ++s) {
      const float v = kernels::kv_element(type, k + (g * capacity + s) * row_bytes, d);
      lo = fminf(lo, v);
      hi = fmaxf(hi, v);
    }
    mins[(g * max_pages + p) * head_dim + d] = lo;
    maxs[(g * max_pages + p) * head_dim + d] = hi;
  }
}

// Grid (page blocks, KV heads), a warp per page: the largest bound over the group's query heads.
__global__ void page_scores_kernel(const float* q, int64_t n_head, int64_t n_kv_head,
                                   int64_t head_dim, const float* mins, const float* maxs,
                                   int64_t max_pages, int64_t candidates, float* scores,
                                   int32_t* pages) {
  const int64_t p = int64_t(blockIdx.x) * kPagesPerCta + threadIdx.y, g = blockIdx.y;
  if (p >= candidates) return;
  const int64_t group = n_head / n_kv_head;
  const float* lo = mins + (g * max_pages + p) * head_dim;
  const float* hi = maxs + (g * max_pages + p) * head_dim;
  float best = -INFINITY;
  for (int64_t hh = 0; hh < group; ++hh) {
    const float* qh = q + (g * group + hh) * head_dim;
    float s = 0.0f;
    for (int64_t d = threadIdx.x; d < head_dim; d += kWarp)
      s += kernels::bound_term(qh[d], lo[d], hi[d]);
    for (int off = kWarp / 2; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
    best = fmaxf(best, s);
  }
  if (threadIdx.x == 0) {
    scores[g * candidates + p] = best;
    pages[g * candidates + p] = int32_t(p);
  }
}

__global__ void segment_offsets_kernel(int32_t* offsets, int64_t n_kv_head, int64_t candidates) {
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g <= n_kv_head) offsets[g] = int32_t(g * candidates);
}

// One block per KV head: the first `pick` pages of its sorted segment, put in ascending order by
// rank (page indices are distinct), as spans, then the newest page's span.
__global__ void page_spans_kernel(const int32_t* sorted, int64_t candidates, int64_t pick,
                                  int64_t page, int32_t recent_begin, int32_t n_cached,
                                  KeySpan* spans) {
  const int64_t g = blockIdx.x;
  const int32_t* chosen = sorted + g * candidates;
  KeySpan* out = spans + g * (pick + 1);
  for (int64_t i = threadIdx.x; i < pick; i += blockDim.x) {
    const int32_t v = chosen[i];
    int64_t rank = 0;
    for (int64_t j = 0; j < pick; ++j) rank += chosen[j] < v;
    out[rank] = {int32_t(v * page), int32_t((v + 1) * page)};
  }
  if (threadIdx.x == 0) out[pick] = {recent_begin, n_cached};
}

unsigned blocks_for(int64_t n, int threads) {
  return unsigned((n + threads - 1) / threads);
}

}  // namespace

void page_bounds(kernels::KvType type, const uint8_t* k, int64_t capacity, int64_t n_kv_head,
                 int64_t head_dim, int64_t page, int64_t first, int64_t n, int64_t max_pages,
                 float* mins, float* maxs) {
  if (n <= 0) return;
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(n_kv_head));
  LC_LAUNCH(grid, 128, 0, page_bounds_kernel)
  (type, k, capacity, head_dim, page, first, max_pages, mins, maxs);
  check_launch("page_bounds");
}

void select_pages(const float* q, int64_t n_head, int64_t n_kv_head, int64_t head_dim,
                  const float* mins, const float* maxs, int64_t max_pages, int64_t candidates,
                  int64_t pick, int64_t page, int64_t recent_begin, int64_t n_cached,
                  KeySpan* spans, PageWorkspace& ws) {
  const int64_t n = n_kv_head * candidates;
  if (pick > 0) {
    // Sized once for the most pages the layer can hold: no allocation as the context grows.
    const int64_t most = n_kv_head * max_pages;
    if (ws.scores.size() < size_t(most)) {
      ws.scores.resize(size_t(most));
      ws.sorted_scores.resize(size_t(most));
      ws.pages.resize(size_t(most));
      ws.sorted_pages.resize(size_t(most));
      ws.offsets.resize(size_t(n_kv_head + 1));
      size_t most_bytes = 0;
      check(cub::DeviceSegmentedRadixSort::SortPairsDescending(
                nullptr, most_bytes, ws.scores.get(), ws.sorted_scores.get(), ws.pages.get(),
                ws.sorted_pages.get(), int(most), int(n_kv_head), ws.offsets.get(),
                ws.offsets.get() + 1),
            "page sort size");
      ws.temp.resize(most_bytes);
    }
    dim3 grid(blocks_for(candidates, kPagesPerCta), unsigned(n_kv_head));
    LC_LAUNCH(grid, dim3(kWarp, kPagesPerCta), 0, page_scores_kernel)
    (q, n_head, n_kv_head, head_dim, mins, maxs, max_pages, candidates, ws.scores.get(),
     ws.pages.get());
    check_launch("page_scores");
    LC_LAUNCH(blocks_for(n_kv_head + 1, 64), 64, 0, segment_offsets_kernel)
    (ws.offsets.get(), n_kv_head, candidates);
    check_launch("page segment offsets");
    // Radix sort is stable: equal bounds keep the lower page first, as the CPU's top_k.
    size_t bytes = 0;
    check(
        cub::DeviceSegmentedRadixSort::SortPairsDescending(
            nullptr, bytes, ws.scores.get(), ws.sorted_scores.get(), ws.pages.get(),
            ws.sorted_pages.get(), int(n), int(n_kv_head), ws.offsets.get(), ws.offsets.get() + 1),
        "page sort size");
    ws.temp.resize(bytes);  // within what was sized above, unless CUB asks more for fewer items
    check(
        cub::DeviceSegmentedRadixSort::SortPairsDescending(
            ws.temp.get(), bytes, ws.scores.get(), ws.sorted_scores.get(), ws.pages.get(),
            ws.sorted_pages.get(), int(n), int(n_kv_head), ws.offsets.get(), ws.offsets.get() + 1),
        "page sort");
  }
  LC_LAUNCH(unsigned(n_kv_head), 128, 0, page_spans_kernel)
  (ws.sorted_pages.get(), candidates, pick, page, int32_t(recent_begin), int32_t(n_cached), spans);
  check_launch("page spans");
}

}  // namespace longctx::cuda
