#include "engine/kv_book.h"

#include <algorithm>

#include "support/error.h"

namespace longctx {

KvType parse_kv_type(const std::string& name) {
  if (name == "f16") return KvType::F16;
  if (name == "q8_0") return KvType::Q8_0;
  if (name == "q4_0") return KvType::Q4_0;
  throw Error("--kv-type " + name + ": unknown KV precision (f16, q8_0, q4_0)");
}

const char* kv_type_name(KvType type) {
  switch (type) {
    case KvType::Q8_0:
      return "q8_0";
    case KvType::Q4_0:
      return "q4_0";
    default:
      return "f16";
  }
}

KvLayout::KvLayout(int64_t n_kv_head_, int64_t head_dim_, int64_t value_dim_,
                   std::vector<int64_t> capacity_, KvType type_)
    : n_kv_head(n_kv_head_),
      head_dim(head_dim_),
      value_dim(value_dim_),
      type(type_),
      capacity(std::move(capacity_)) {
  if (type != KvType::F16 && (head_dim % kernels::kQK != 0 || value_dim % kernels::kQK != 0)) {
    throw Error(std::string("--kv-type ") + kv_type_name(type) +
                " needs head dimensions that are multiples of 32; this model has " +
                std::to_string(head_dim));
  }
}

int64_t KvLayout::max_capacity() const {
  return capacity.empty() ? 0 : *std::max_element(capacity.begin(), capacity.end());
}

int64_t KvLayout::bytes() const {
  int64_t total = 0;
  for (int64_t cap : capacity) total += n_kv_head * cap * (key_row_bytes() + value_row_bytes());
  return total;
}

KvBook::KvBook(KvLayout layout) : layout_(std::move(layout)) {
  for (int64_t cap : layout_.capacity) pos_.emplace_back(size_t(layout_.n_kv_head * cap), 0);
  used_.assign(size_t(layout_.n_layer()), 0);
}

int64_t KvBook::held_bytes() const {
  int64_t total = 0;
  for (int64_t il = 0; il < n_layer(); ++il) total += layer_held_bytes(il);
  return total;
}

int64_t KvBook::append(int64_t layer, int64_t n, const int32_t* positions) {
  int64_t& used = used_[size_t(layer)];
  const int64_t cap = capacity(layer);
  if (used + n > cap) {
    throw Error("the KV cache of layer " + std::to_string(layer) + " is full (" +
                std::to_string(cap) + " tokens); raise -c or shorten the prompt");
  }
  const int64_t first = used;
  for (int64_t g = 0; g < layout_.n_kv_head; ++g)
    std::copy(positions, positions + n, pos_[size_t(layer)].begin() + g * cap + first);
  used += n;
  return first;
}

void KvBook::clear() {
  for (auto& u : used_) u = 0;
}

void KvBook::truncate(int64_t n) {
  for (auto& u : used_) u = std::min(u, n);
}

void KvBook::evict_range(int64_t layer, int64_t begin, int64_t count, int32_t shift,
                         std::vector<KvMove>& moves) {
  moves.clear();
  int64_t& used = used_[size_t(layer)];
  if (count <= 0) return;
  if (begin < 0 || begin + count > used) throw Error("internal: eviction outside the cache");
  const int64_t cap = capacity(layer);
  for (int64_t g = 0; g < layout_.n_kv_head; ++g) {
    int32_t* pg = pos_[size_t(layer)].data() + g * cap;
    for (int64_t s = begin + count; s < used; ++s) {
      pg[s - count] = pg[s] - shift;
      moves.push_back({int32_t(g), int32_t(s), int32_t(s - count)});
    }
  }
  used -= count;
}

void KvBook::plan_drop(const int32_t* drops, int64_t n_drops, int64_t used,
                       std::vector<SlotMove>& moves) {
  moves.clear();
  // Holes below the new end are filled by the survivors above it, highest survivor first.
  const int64_t new_used = used - n_drops;
  int64_t src = used - 1;
  int64_t tail = n_drops - 1;  // drops at or above new_used need no filling
  for (int64_t i = 0; i < n_drops && drops[i] < new_used; ++i) {
    while (tail >= 0 && drops[tail] == src) {  // a dropped slot is no survivor
      --tail;
      --src;
    }
    moves.push_back({int32_t(src), drops[i]});
    --src;
  }
}

void KvBook::drop(int64_t layer, const std::vector<int32_t>& drops, int64_t per_head,
                  std::vector<KvMove>& moves) {
  moves.clear();
  int64_t& used = used_[size_t(layer)];
  if (per_head <= 0) return;
  if (int64_t(drops.size()) != per_head * layout_.n_kv_head || per_head > used)
    throw Error("internal: a drop must name the same number of slots in every KV head");
  const int64_t cap = capacity(layer);
  for (int64_t g = 0; g < layout_.n_kv_head; ++g) {
    const int32_t* d = drops.data() + g * per_head;
    for (int64_t i = 0; i < per_head; ++i) {
      if (d[i] < 0 || d[i] >= used || (i > 0 && d[i] <= d[i - 1]))
        throw Error("internal: dropped slots must be distinct, ascending and in use");
    }
    plan_drop(d, per_head, used, plan_);
    int32_t* pg = pos_[size_t(layer)].data() + g * cap;
    for (const SlotMove& m : plan_) {
      pg[m.to] = pg[m.from];
      moves.push_back({int32_t(g), m.from, m.to});
    }
  }
  used -= per_head;
}

}  // namespace longctx
