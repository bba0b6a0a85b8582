// --trace-attention FILE: what each policy read and kept, as JSON lines, so that a policy can be
// checked against another implementation (docs/attention.md, "Tracing"). One line per step, layer
// and head:
//   {"step":3,"pos":1500,"n_q":1,"layer":2,"head":1,"read":[[0,16],[400,416],[1488,1501]]}
// "read" lists the cache positions the head's queries read, as half-open spans; a per-query-head
// selection adds "query_head", a per-query-block one "queries" ([first, end) of the step's
// queries). An eviction adds a line with "kept" and "dropped" instead of "read", positions as the
// cache held them before it. Positions are the cache's: after StreamingLLM's re-positioning, a
// token past the sinks sits "shift" (on that layer's eviction lines: the shift so far) below its
// place in the text. A "sample" line opens each eval
// sample. Off by default; when off the session only tests a null pointer.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/attention/policy.h"
#include "engine/kv_book.h"

namespace longctx {

class AttentionTrace {
 public:
  // Opens FILE for writing (truncating it); throws longctx::Error naming it when it cannot.
  explicit AttentionTrace(const std::string& path);
  ~AttentionTrace();
  AttentionTrace(const AttentionTrace&) = delete;
  AttentionTrace& operator=(const AttentionTrace&) = delete;

  // {"sample": id, "mode": mode}: what the following lines belong to.
  void sample(const std::string& id, const std::string& mode);
  // The keys each head of `sel` reads, as positions of layer `layer`'s cache.
  void reads(int64_t step, int64_t pos, int64_t n_q, int64_t layer, int64_t n_head,
             const Selection& sel, const KvBook& book);
  // What `ev` drops from layer `layer`, called before the cache carries it out.
  void eviction(int64_t step, int64_t pos, int64_t n_q, int64_t layer, const Eviction& ev,
                const KvBook& book, int64_t shift);
  // A decode step's attention recall per query head of layer `layer` (engine/attention/recall.h).
  void recall(int64_t step, int64_t pos, int64_t layer, const std::vector<double>& per_head);
  // Flushes; throws longctx::Error when anything could not be written.
  void finish();

 private:
  void spans(const char* key, std::vector<int32_t>& positions);

  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<int32_t> positions_, dropped_;
  std::vector<uint8_t> drop_;  // per slot of the head being written: it leaves
};

}  // namespace longctx
