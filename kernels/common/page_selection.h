// Quest's page arithmetic, written once for the CPU policy (engine/attention/quest.cpp) and the
// device planner (engine/cuda_backend.cpp): which pages are complete, where the always-read newest
// page begins, how many pages compete and how many of them a budget buys.
#pragma once

#include <cstdint>

#include "kernels/common/host_device.h"

namespace longctx::kernels {

struct PageChoice {
  int64_t complete;      // pages whose keys are all in the cache (their bounds can be kept)
  int64_t recent_begin;  // first slot of the newest page, read whatever the scores say
  int64_t candidates;    // pages before it, ranked by their bound
  int64_t pick;          // how many of them the budget leaves room for
};

LC_HD PageChoice choose_pages(int64_t n_cached, int64_t page, int64_t budget) {
  PageChoice c;
  c.complete = n_cached / page;
  c.recent_begin = c.complete * page;
  if (c.recent_begin == n_cached) c.recent_begin -= page;  // the newest page is always read
  c.candidates = c.recent_begin / page;
  // At least two besides the newest: three pages in all, as the reference's max(3, budget / page).
  int64_t room = (budget - (n_cached - c.recent_begin)) / page;
  if (room < 2) room = 2;
  c.pick = room < c.candidates ? room : c.candidates;
  return c;
}

// One dimension's share of a page's bound on q.k: the larger of q * min and q * max.
LC_HD float bound_term(float q, float lo, float hi) {
  const float a = q * lo, b = q * hi;
  return a > b ? a : b;
}

}  // namespace longctx::kernels
