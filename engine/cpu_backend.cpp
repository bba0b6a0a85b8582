// The CPU backend: the operations of engine/backend.h over kernels/cpu, with the KV cache's rows in
// host memory (KvRows, every layer). The reference every other backend is compared with.
#include <chrono>
#include <cmath>

#include "engine/backend.h"
#include "kernels/common/routing.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec.h"
#include "support/error.h"

namespace longctx {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Model& model, int64_t n_batch, const KvLayout& layout, const RopeTable& rope);
  std::string name() const override {
    return std::string("CPU (") + cpu::isa_name(cpu::detected_isa()) + ")";
  }
  void embed(const int32_t* tokens, int64_t n) override;
  void scale(Act a, float factor, int64_t count) override { cpu::scale_f32(buf(a), factor, count); }
  void rms_norm(Act in, const float* weight, float eps, int64_t rows, int64_t width,
                Act out) override;
  void matmul(std::span<const Product> products, Act in, int64_t n) override;
  void add_bias(Act a, const float* bias, int64_t rows, int64_t width) override;
  void rope(Act a, int64_t il, int64_t n, int64_t heads, const int32_t* pos) override;
  void kv_append(int64_t il, int64_t slot, int64_t n, const int32_t* pos) override;
  void attend(const AttendStep& step, const KvBook& book) override;
  void attention_mass(const AttendStep& step, const KvBook& book, int64_t q_begin,
                      float* mass) override;
  void replay(int64_t il, const std::vector<KvMove>& moves, const KeyRotation* rotation) override {
    replay_host(rows_, il, moves, rotation, c_);
  }
  const KvRows& host_rows() const override { return rows_; }
  void copy_rows(const Backend& from) override {
    const auto* cpu = dynamic_cast<const CpuBackend*>(&from);
    if (!cpu) throw Error("internal: CPU rows copied from another kind of backend");
    rows_ = cpu->rows_;
  }
  void gated_activation(Activation act, int64_t count) override {
    gated(act, buf(Act::Gate), buf(Act::Up), count);
  }
  void route(int64_t n) override;
  Routes routes(int64_t n) override;
  void experts(const LayerWeights& layer, Activation act, int64_t n) override;
  void add(Act dst, Act src, int64_t count) override { cpu::add(buf(dst), buf(src), count); }
  void output(Act in, int64_t first, int64_t n, float* out) override;
  void write(Act a, const float* src, int64_t count) override;
  const float* read(Act a, int64_t) override { return buf(a); }
  void mark_attention(bool begin) override;
  double attention_ms() override { return attention_ms_; }
  void reset_attention_ms() override { attention_ms_ = 0; }

 private:
  float* buf(Act a) { return acts_[size_t(a)].data(); }
  static void gated(Activation act, float* gate, const float* up, int64_t count);
  kernels::AttentionArgs args(const AttendStep& step, const KvBook& book);

  const Model& model_;
  const ModelConfig& c_;
  RopeTable rope_;                        // per layer, rotary frequencies and amplitude
  KvRows rows_;                           // the cache's rows
  std::vector<std::vector<float>> acts_;  // by Act, sized for n_batch tokens
  std::vector<float> lse_;
  std::vector<int32_t> pos_;  // positions of the last kv_append(): the queries'
  // Routed experts: the last route() ([n][used] ids and weights), the tokens of each expert, and
  // one expert's rows gathered, its gate, up and output.
  std::vector<int32_t> route_ids_;
  ExpertGroups groups_;
  std::vector<float> route_weights_, expert_in_, expert_gate_, expert_up_, expert_out_;
  std::chrono::steady_clock::time_point attention_start_;
  double attention_ms_ = 0;
};

CpuBackend::CpuBackend(const Model& model, int64_t n_batch, const KvLayout& layout,
                       const RopeTable& rope)
    : model_(model), c_(model.config), rope_(rope), rows_(layout) {
  const int64_t b = n_batch;
  acts_.resize(size_t(Act::Router) + 1);
  acts_[size_t(Act::X)].resize(size_t(b * c_.n_embd));
  acts_[size_t(Act::H)].resize(size_t(b * c_.n_embd));
  acts_[size_t(Act::O)].resize(size_t(b * c_.n_embd));
  acts_[size_t(Act::Q)].resize(size_t(b * c_.n_head * c_.head_dim));
  acts_[size_t(Act::K)].resize(size_t(b * c_.n_head_kv * c_.head_dim));
  acts_[size_t(Act::V)].resize(size_t(b * c_.n_head_kv * c_.value_dim));
  acts_[size_t(Act::Attn)].resize(size_t(b * c_.n_head * c_.value_dim));
  acts_[size_t(Act::Gate)].resize(size_t(b * c_.n_ff));
  acts_[size_t(Act::Up)].resize(size_t(b * c_.n_ff));
  lse_.resize(size_t(b * c_.n_head));
  pos_.resize(size_t(b));
  if (const ExpertFfn& e = c_.experts; e.count > 0) {
    acts_[size_t(Act::Router)].resize(size_t(b * e.count));
    route_ids_.resize(size_t(b * e.used));
    route_weights_.resize(size_t(b * e.used));
    groups_.size(e.count, b, e.used);
    expert_in_.resize(size_t(b * c_.n_embd));
    expert_out_.resize(size_t(b * c_.n_embd));
    expert_gate_.resize(size_t(b * e.n_ff));
    expert_up_.resize(size_t(b * e.n_ff));
  }
}

void CpuBackend::embed(const int32_t* tokens, int64_t n) {
  for (int64_t t = 0; t < n; ++t)
    cpu::dequantize_row(model_.token_embd, tokens[t], buf(Act::X) + t * c_.n_embd);
}

void CpuBackend::rms_norm(Act in, const float* weight, float eps, int64_t rows, int64_t width,
                          Act out) {
  const float* x = buf(in);
  float* y = buf(out);
  for (int64_t r = 0; r < rows; ++r)
    cpu::rms_norm(x + r * width, weight, eps, width, y + r * width);
}

void CpuBackend::matmul(std::span<const Product> products, Act in, int64_t n) {
  cpu::MatmulOut outs[4];
  if (products.size() > std::size(outs)) throw Error("matmul: more than 4 products share an input");
  for (size_t i = 0; i < products.size(); ++i) outs[i] = {products[i].w, buf(products[i].out)};
  if (products.size() == 1) {
    cpu::matmul(*outs[0].w, buf(in), n, outs[0].y);
  } else {
    cpu::matmul_shared_input(std::span(outs, products.size()), buf(in), n);
  }
}

void CpuBackend::add_bias(Act a, const float* bias, int64_t rows, int64_t width) {
  float* x = buf(a);
  for (int64_t r = 0; r < rows; ++r) cpu::add(x + r * width, bias, width);
}

void CpuBackend::rope(Act a, int64_t il, int64_t n, int64_t heads, const int32_t* pos) {
  const int64_t hd = c_.head_dim;
  const auto layout =
      c_.rope_type == RopeType::Neox ? cpu::RopeLayout::Halves : cpu::RopeLayout::Pairs;
  float* x = buf(a);
  const LayerRope& r = rope_[size_t(il)];
  for (int64_t t = 0; t < n; ++t)
    cpu::rope(x + t * heads * hd, heads, hd, c_.n_rot, r.inv_freq.data(), r.amplitude, pos[t],
              layout);
}

void CpuBackend::kv_append(int64_t il, int64_t slot, int64_t n, const int32_t* pos) {
  std::copy(pos, pos + n, pos_.begin());
  rows_.write(il, slot, n, buf(Act::K), buf(Act::V));
}

kernels::AttentionArgs CpuBackend::args(const AttendStep& step, const KvBook& book) {
  return host_attention_args(step, book, rows_, c_, buf(Act::Q), pos_.data(), buf(Act::Attn),
                             step.lse ? lse_.data() : nullptr);
}

void CpuBackend::attend(const AttendStep& step, const KvBook& book) {
  cpu::attention(args(step, book));
}

void CpuBackend::attention_mass(const AttendStep& step, const KvBook& book, int64_t q_begin,
                                float* mass) {
  cpu::attention_mass(args(step, book), q_begin, mass);
}

void CpuBackend::gated(Activation act, float* gate, const float* up, int64_t count) {
  if (act == Activation::GeluTanh) {
    cpu::geglu_tanh(gate, up, count);
  } else {
    cpu::swiglu(gate, up, count);
  }
}

void CpuBackend::route(int64_t n) {
  const ExpertFfn& e = c_.experts;
  const float* logits = buf(Act::Router);
  for (int64_t t = 0; t < n; ++t)
    kernels::route_token(logits + t * e.count, int32_t(e.count), int32_t(e.used), e.renormalize,
                         route_ids_.data() + t * e.used, route_weights_.data() + t * e.used);
}

Routes CpuBackend::routes(int64_t n) {
  const size_t k = size_t(n * c_.experts.used);
  return {{route_ids_.begin(), route_ids_.begin() + k},
          {route_weights_.begin(), route_weights_.begin() + k}};
}

// Each expert in turn over the rows routed to it (a product of as many rows as it has tokens),
// its output added to each token's in the order of the experts' ids: a token's sum does not depend
// on the other tokens of the chunk, nor on the thread count.
void CpuBackend::experts(const LayerWeights& L, Activation act, int64_t n) {
  const ExpertFfn& e = c_.experts;
  const int64_t d = c_.n_embd, k = e.used;
  groups_.group(route_ids_.data(), n * k);
  float* out = buf(Act::O);
  std::fill(out, out + n * d, 0.0f);
  const float* h = buf(Act::H);
  for (int64_t x = 0; x < e.count; ++x) {
    const int32_t first = groups_.first[size_t(x)], m = groups_.first[size_t(x + 1)] - first;
    if (m == 0) continue;
    for (int32_t i = 0; i < m; ++i) {
      const int64_t t = groups_.slots[size_t(first + i)] / k;
      std::copy(h + t * d, h + (t + 1) * d, expert_in_.begin() + i * d);
    }
    const cpu::MatmulOut gate_up[] = {{&L.gate_exps[size_t(x)], expert_gate_.data()},
                                      {&L.up_exps[size_t(x)], expert_up_.data()}};
    cpu::matmul_shared_input(gate_up, expert_in_.data(), m);
    gated(act, expert_gate_.data(), expert_up_.data(), m * e.n_ff);
    cpu::matmul(L.down_exps[size_t(x)], expert_gate_.data(), m, expert_out_.data());
    for (int32_t i = 0; i < m; ++i) {
      const int32_t slot = groups_.slots[size_t(first + i)];
      const int64_t t = slot / k;
      cpu::axpy_f32(route_weights_[size_t(slot)], expert_out_.data() + i * d, out + t * d, d);
    }
  }
}

void CpuBackend::output(Act in, int64_t first, int64_t n, float* out) {
  cpu::matmul(model_.output, buf(in) + first * c_.n_embd, n - first, out);
}

void CpuBackend::write(Act a, const float* src, int64_t count) {
  std::copy(src, src + count, buf(a));
}

void CpuBackend::mark_attention(bool begin) {
  const auto now = std::chrono::steady_clock::now();
  if (begin) {
    attention_start_ = now;
  } else {
    attention_ms_ += std::chrono::duration<double, std::milli>(now - attention_start_).count();
  }
}

// The host's weights are the model's own views into the mapped file: nothing to copy.
class CpuModel final : public DeviceModel {
 public:
  explicit CpuModel(const Model& model) : model_(model) {}
  std::string name() const override {
    return std::string("CPU (") + cpu::isa_name(cpu::detected_isa()) + ")";
  }
  std::string kind() const override { return "cpu"; }
  const Model& model() const override { return model_; }
  int64_t uploaded_bytes() const override { return 0; }
  std::unique_ptr<Backend> open(int64_t n_batch, const KvLayout& layout, const std::vector<bool>&,
                                const RopeTable& rope) const override {
    return std::make_unique<CpuBackend>(model_, n_batch, layout, rope);
  }

 private:
  const Model& model_;
};

}  // namespace

BackendKind cpu_backend_kind() {
  BackendKind k;
  k.name = "cpu";
  k.host_cache = true;
  k.usable = [](std::string*) { return true; };
  k.load = [](const Model& model) -> std::shared_ptr<const DeviceModel> {
    return std::make_shared<CpuModel>(model);
  };
  return k;
}

}  // namespace longctx
