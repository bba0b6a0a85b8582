#include "engine/attention_trace.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "support/error.h"

namespace longctx {

AttentionTrace::AttentionTrace(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "w");
  if (!file_)
    throw Error("--trace-attention " + path + ": cannot write it: " + std::strerror(errno));
}

AttentionTrace::~AttentionTrace() {
  if (file_) std::fclose(file_);
}

void AttentionTrace::sample(const std::string& id, const std::string& mode) {
  const std::string line = nlohmann::json{{"sample", id}, {"mode", mode}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(file_, "%s\n", line.c_str());
}

// Sorted positions as [[begin, end), ...] runs of consecutive positions.
void AttentionTrace::spans(const char* key, std::vector<int32_t>& positions) {
  std::sort(positions.begin(), positions.end());
  std::fprintf(file_, ",\"%s\":[", key);
  for (size_t i = 0; i < positions.size();) {
    size_t j = i + 1;
    while (j < positions.size() && positions[j] == positions[j - 1] + 1) ++j;
    std::fprintf(file_, "%s[%d,%d]", i ? "," : "", positions[i], positions[j - 1] + 1);
    i = j;
  }
  std::fputc(']', file_);
}

void AttentionTrace::recall(int64_t step, int64_t pos, int64_t layer,
                            const std::vector<double>& per_head) {
  std::fprintf(file_, "{\"step\":%lld,\"pos\":%lld,\"layer\":%lld,\"recall\":[", (long long)step,
               (long long)pos, (long long)layer);
  for (size_t h = 0; h < per_head.size(); ++h)
    std::fprintf(file_, "%s%.6g", h ? "," : "", per_head[h]);
  std::fprintf(file_, "]}\n");
}

void AttentionTrace::reads(int64_t step, int64_t pos, int64_t n_q, int64_t layer, int64_t n_head,
                           const Selection& sel, const KvBook& book) {
  const int64_t n_kv = book.n_kv_head();
  const int64_t heads = sel.per_query_head ? n_head : n_kv;
  const int64_t group = n_head / n_kv;
  const int64_t blocks = sel.q_block > 0 ? (n_q + sel.q_block - 1) / sel.q_block : 1;
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = sel.per_query_head ? h / group : h;
      const int32_t* slot_pos = book.positions(layer) + g * book.capacity(layer);
      positions_.clear();
      const int64_t i = b * heads + h;
      for (int32_t s = sel.offsets[size_t(i)]; s < sel.offsets[size_t(i) + 1]; ++s)
        for (int32_t slot = sel.spans[size_t(s)].begin; slot < sel.spans[size_t(s)].end; ++slot)
          positions_.push_back(slot_pos[slot]);
      std::fprintf(file_, "{\"step\":%lld,\"pos\":%lld,\"n_q\":%lld,\"layer\":%lld,\"head\":%lld",
                   (long long)step, (long long)pos, (long long)n_q, (long long)layer, (long long)g);
      if (sel.per_query_head) std::fprintf(file_, ",\"query_head\":%lld", (long long)h);
      if (sel.q_block > 0) {
        std::fprintf(file_, ",\"queries\":[%lld,%lld]", (long long)(b * sel.q_block),
                     (long long)std::min(n_q, (b + 1) * sel.q_block));
      }
      spans("read", positions_);
      std::fputs("}\n", file_);
    }
  }
}

void AttentionTrace::eviction(int64_t step, int64_t pos, int64_t n_q, int64_t layer,
                              const Eviction& ev, const KvBook& book, int64_t shift) {
  if (ev.per_head <= 0 && ev.count <= 0) return;
  const int64_t cap = book.capacity(layer), used = book.used(layer);
  for (int64_t g = 0; g < book.n_kv_head(); ++g) {
    const int32_t* slot_pos = book.positions(layer) + g * cap;
    std::vector<uint8_t>& drop = drop_;
    drop.assign(size_t(used), 0);
    if (ev.per_head > 0)
      for (int64_t i = 0; i < ev.per_head; ++i)
        drop[size_t(ev.drops[size_t(g * ev.per_head + i)])] = 1;
    for (int64_t s = ev.begin; s < ev.begin + ev.count; ++s) drop[size_t(s)] = 1;
    positions_.clear();
    dropped_.clear();
    for (int64_t s = 0; s < used; ++s)
      (drop[size_t(s)] ? dropped_ : positions_).push_back(slot_pos[s]);
    std::fprintf(file_, "{\"step\":%lld,\"pos\":%lld,\"n_q\":%lld,\"layer\":%lld,\"head\":%lld",
                 (long long)step, (long long)pos, (long long)n_q, (long long)layer, (long long)g);
    if (shift > 0 || ev.reposition) std::fprintf(file_, ",\"shift\":%lld", (long long)shift);
    spans("kept", positions_);
    spans("dropped", dropped_);
    std::fputs("}\n", file_);
  }
}

void AttentionTrace::finish() {
  if (std::fflush(file_) != 0 || std::ferror(file_))
    throw Error("--trace-attention " + path_ + ": writing failed: " + std::strerror(errno));
}

}  // namespace longctx
