// Dense attention: every KV head attends to the whole cache (the kernel applies the causal mask
// and the layer's own sliding window). A layer with a window skips keys no query can see.
#include <algorithm>

#include "engine/attention/policy.h"

namespace longctx {
namespace {

class DensePolicy final : public AttentionPolicy {
 public:
  std::string name() const override { return "dense"; }
  void plan(const StepInfo& step, Selection& out) override { select_all(step, out); }
};

}  // namespace

void select_all(const StepInfo& step, Selection& out) {
  out.clear();
  // Slots hold positions in order, so keys older than the first query's window are dead.
  int32_t begin =
      step.window > 0 ? int32_t(std::max<int64_t>(0, step.first_q_pos - step.window + 1)) : 0;
  begin = std::min<int32_t>(begin, int32_t(step.n_cached));
  for (int64_t g = 0; g < step.n_kv_head; ++g) {
    out.spans.push_back({begin, int32_t(step.n_cached)});
    out.offsets.push_back(int32_t(out.spans.size()));
  }
}

std::unique_ptr<AttentionPolicy> make_dense_policy() {
  return std::make_unique<DensePolicy>();
}

}  // namespace longctx
