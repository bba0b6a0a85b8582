// A KV cache on the host for tests that drive policies and kernels without a Session: the book
// (positions, counts) and the rows, edited together as a Session and the CPU backend edit them.
#pragma once

#include <functional>
#include <vector>

#include "engine/kv_book.h"
#include "engine/kv_rows.h"

namespace longctx::test {

struct HostCache {
  KvBook book;
  KvRows rows;
  std::vector<KvMove> moves;  // of the last edit

  explicit HostCache(const KvLayout& layout) : book(layout), rows(layout) {}

  void append(int64_t layer, int64_t n, const float* k, const float* v, const int32_t* pos) {
    rows.write(layer, book.append(layer, n, pos), n, k, v);
  }
  // A range eviction; with `rotate`, moved keys are turned and positions lowered by count.
  void evict_range(int64_t layer, int64_t begin, int64_t count,
                   const std::function<void(float*)>& rotate = nullptr) {
    book.evict_range(layer, begin, count, rotate ? int32_t(count) : 0, moves);
    rows.apply(layer, moves, rotate);
  }
  void drop(int64_t layer, const std::vector<int32_t>& drops, int64_t per_head) {
    book.drop(layer, drops, per_head, moves);
    rows.apply(layer, moves);
  }
};

}  // namespace longctx::test
