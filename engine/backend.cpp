#include "engine/backend.h"

#include "support/error.h"

namespace longctx {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  throw Error("--device " + name + ": expected cpu or cuda");
}

kernels::AttentionArgs attention_args(const AttendStep& step, const KvCache& cache,
                                      const ModelConfig& c) {
  kernels::AttentionArgs a;
  a.n_q = step.n;
  a.n_head = c.n_head;
  a.n_kv_head = c.n_head_kv;
  a.head_dim = c.head_dim;
  a.kv_type = cache.type();
  a.capacity = cache.capacity(step.layer);
  a.window = step.window;
  a.scale = c.attention_scale;
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

kernels::AttentionArgs host_attention_args(const AttendStep& step, const KvCache& cache,
                                           const ModelConfig& c, const float* q,
                                           const int32_t* q_pos, float* out, float* lse) {
  kernels::AttentionArgs a = attention_args(step, cache, c);
  a.q = q;
  a.k = cache.keys(step.layer);
  a.v = cache.values(step.layer);
  a.key_pos = cache.positions(step.layer);
  a.q_pos = q_pos;
  a.spans = step.selection->spans.data();
  a.span_offsets = step.selection->offsets.data();
  a.out = out;
  a.lse = lse;
  return a;
}

#ifndef LONGCTX_HAVE_CUDA
// A build without nvcc: the CUDA entry points say so.
bool cuda_usable(std::string* why) {
  if (why) *why = "this longctx was built without the CUDA backend (no nvcc at build time)";
  return false;
}

std::unique_ptr<Backend> make_cuda_backend(const Model&, int64_t, const KvCache&,
                                           const RopeTable&) {
  std::string why;
  cuda_usable(&why);
  throw Error("--device cuda: " + why);
}
#endif

}  // namespace longctx
