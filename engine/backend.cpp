#include "engine/backend.h"

#include "kernels/cpu/ops.h"
#include "support/error.h"

namespace longctx {

const std::vector<BackendKind>& backend_kinds() {
  static const std::vector<BackendKind> kinds = {cpu_backend_kind(), cuda_backend_kind()};
  return kinds;
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const BackendKind& k : backend_kinds()) names.push_back(k.name);
  return names;
}

const BackendKind& find_backend(const std::string& name) {
  std::string known;
  for (const BackendKind& k : backend_kinds()) {
    if (k.name == name) return k;
    known += (known.empty() ? "" : ", ") + k.name;
  }
  throw Error("--device " + name + ": expected one of " + known);
}

void ExpertGroups::size(int64_t count, int64_t n_batch, int64_t used) {
  first.assign(size_t(count + 1), 0);
  at.assign(size_t(count), 0);
  slots.assign(size_t(n_batch * used), 0);
}

void ExpertGroups::group(const int32_t* ids, int64_t choices) {
  std::fill(first.begin(), first.end(), 0);
  for (int64_t s = 0; s < choices; ++s) ++first[size_t(ids[s]) + 1];
  for (size_t x = 1; x < first.size(); ++x) first[x] += first[x - 1];
  std::copy(first.begin(), first.end() - 1, at.begin());
  for (int64_t s = 0; s < choices; ++s) slots[size_t(at[size_t(ids[s])]++)] = int32_t(s);
}

kernels::AttentionArgs attention_args(const AttendStep& step, const KvLayout& layout,
                                      const ModelConfig& c) {
  kernels::AttentionArgs a;
  a.n_q = step.n;
  a.n_head = c.n_head;
  a.n_kv_head = c.n_head_kv;
  a.head_dim = c.head_dim;
  a.kv_type = layout.type;
  a.capacity = layout.capacity[size_t(step.layer)];
  a.window = step.window;
  a.scale = c.attention_scale;
  a.softcap = c.attn_softcap;
  a.mass_max = step.mass_max;
  if (const Selection* sel = step.selection) {
    a.span_q_block = sel->q_block;
    if (sel->per_query_head) {  // the selection names query heads; each reads its KV head's rows
      a.kv_repeat = c.n_head / c.n_head_kv;
      a.n_kv_head = c.n_head;
    }
  }
  return a;
}

kernels::AttentionArgs host_attention_args(const AttendStep& step, const KvBook& book,
                                           const KvRows& rows, const ModelConfig& c, const float* q,
                                           const int32_t* q_pos, float* out, float* lse) {
  kernels::AttentionArgs a = attention_args(step, book.layout(), c);
  a.q = q;
  a.k = rows.keys(step.layer);
  a.v = rows.values(step.layer);
  a.key_pos = book.positions(step.layer);
  a.q_pos = q_pos;
  a.spans = step.selection->spans.data();
  a.span_offsets = step.selection->offsets.data();
  a.out = out;
  a.lse = lse;
  return a;
}

void replay_host(KvRows& rows, int64_t il, const std::vector<KvMove>& moves,
                 const KeyRotation* rotation, const ModelConfig& c) {
  if (!rotation) {
    rows.apply(il, moves);
    return;
  }
  const auto layout =
      c.rope_type == RopeType::Neox ? cpu::RopeLayout::Halves : cpu::RopeLayout::Pairs;
  rows.apply(il, moves, [&](float* key) {
    cpu::rope_table(key, c.head_dim, c.n_rot, rotation->cos, rotation->sin, layout);
  });
}

}  // namespace longctx
