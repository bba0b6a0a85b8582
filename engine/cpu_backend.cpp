// The CPU backend: the layer recipe over kernels/cpu, reading and writing the Session's KvCache.
// The reference every other backend is compared with.
#include <chrono>
#include <cmath>

#include "engine/backend.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec.h"
#include "support/error.h"

namespace longctx {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Model& model, int64_t n_batch);
  std::string name() const override {
    return std::string("CPU (") + cpu::isa_name(cpu::detected_isa()) + ")";
  }
  void embed(const int32_t* tokens, int64_t n) override;
  void project(int64_t il, int64_t n, const int32_t* pos, KvCache& cache) override;
  const float* host_queries(int64_t) override { return q_.data(); }
  void attend(const AttendStep& step, const KvCache& cache) override;
  void attention_mass(const AttendStep& step, const KvCache& cache, int64_t q_begin,
                      float* mass) override;
  void replay(int64_t, const std::vector<KvMove>&, const KeyRotation*, const KvCache&) override {}
  void attention_output(int64_t il, int64_t n) override;
  void ffn(int64_t il, int64_t n) override;
  void logits(int64_t n, int64_t first, float* out) override;
  void mark_attention(bool begin) override;
  double attention_ms() override { return attention_ms_; }
  void reset_attention_ms() override { attention_ms_ = 0; }

 private:
  cpu::AttentionArgs args(const AttendStep& step, const KvCache& cache);

  const Model& model_;
  const ModelConfig& c_;
  std::vector<std::vector<float>> inv_freq_;  // per layer, rotary frequencies
  // Scratch, sized for n_batch tokens.
  std::vector<float> x_, h_, q_, k_, v_, attn_, o_, gate_, up_, lse_;
  std::vector<int32_t> pos_;  // positions of the last project()
  std::chrono::steady_clock::time_point attention_start_;
  double attention_ms_ = 0;
};

CpuBackend::CpuBackend(const Model& model, int64_t n_batch) : model_(model), c_(model.config) {
  for (int64_t il = 0; il < c_.n_layer; ++il) inv_freq_.push_back(c_.rotary_frequencies(il));
  const int64_t b = n_batch;
  x_.resize(size_t(b * c_.n_embd));
  h_.resize(size_t(b * c_.n_embd));
  o_.resize(size_t(b * c_.n_embd));
  q_.resize(size_t(b * c_.n_head * c_.head_dim));
  k_.resize(size_t(b * c_.n_head_kv * c_.head_dim));
  v_.resize(size_t(b * c_.n_head_kv * c_.value_dim));
  attn_.resize(size_t(b * c_.n_head * c_.value_dim));
  gate_.resize(size_t(b * c_.n_ff));
  up_.resize(size_t(b * c_.n_ff));
  lse_.resize(size_t(b * c_.n_head));
  pos_.resize(size_t(b));
}

void CpuBackend::embed(const int32_t* tokens, int64_t n) {
  const int64_t d = c_.n_embd;
  for (int64_t t = 0; t < n; ++t)
    cpu::dequantize_row(model_.token_embd, tokens[t], x_.data() + t * d);
  if (c_.arch->embedding_scale) cpu::scale_f32(x_.data(), std::sqrt(float(d)), n * d);
}

void CpuBackend::project(int64_t il, int64_t n, const int32_t* pos, KvCache& cache) {
  const LayerWeights& L = model_.layers[size_t(il)];
  const int64_t d = c_.n_embd, hd = c_.head_dim;
  const float eps = float(c_.rms_eps);
  for (int64_t t = 0; t < n; ++t)
    cpu::rms_norm(x_.data() + t * d, L.attn_norm, eps, d, h_.data() + t * d);
  const cpu::MatmulOut qkv[] = {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}};
  cpu::matmul_shared_input(qkv, h_.data(), n);
  const int64_t q_dim = c_.n_head * hd, kv_dim = c_.n_head_kv * hd;
  const auto layout =
      c_.rope_type == RopeType::Neox ? cpu::RopeLayout::Halves : cpu::RopeLayout::Pairs;
  for (int64_t t = 0; t < n; ++t) {
    float* q = q_.data() + t * q_dim;
    float* k = k_.data() + t * kv_dim;
    if (L.bq) cpu::add(q, L.bq, q_dim);
    if (L.bk) cpu::add(k, L.bk, kv_dim);
    if (L.bv)
      cpu::add(v_.data() + t * c_.n_head_kv * c_.value_dim, L.bv, c_.n_head_kv * c_.value_dim);
    if (L.q_norm) {
      for (int64_t h = 0; h < c_.n_head; ++h)
        cpu::rms_norm(q + h * hd, L.q_norm, eps, hd, q + h * hd);
      for (int64_t h = 0; h < c_.n_head_kv; ++h)
        cpu::rms_norm(k + h * hd, L.k_norm, eps, hd, k + h * hd);
    }
    cpu::rope(q, c_.n_head, hd, c_.n_rot, inv_freq_[size_t(il)].data(), pos[t], layout);
    cpu::rope(k, c_.n_head_kv, hd, c_.n_rot, inv_freq_[size_t(il)].data(), pos[t], layout);
    pos_[size_t(t)] = pos[t];
  }
  cache.append(il, n, k_.data(), v_.data(), pos);
}

cpu::AttentionArgs CpuBackend::args(const AttendStep& step, const KvCache& cache) {
  const int64_t il = step.layer;
  cpu::AttentionArgs a;
  a.q = q_.data();
  a.n_q = step.n;
  a.n_head = c_.n_head;
  a.n_kv_head = c_.n_head_kv;
  a.head_dim = c_.head_dim;
  a.kv_type = cache.type();
  a.k = cache.keys(il);
  a.v = cache.values(il);
  a.capacity = cache.capacity(il);
  a.key_pos = cache.positions(il);
  a.q_pos = pos_.data();
  a.window = step.window;
  a.scale = c_.attention_scale;
  a.spans = step.selection->spans.data();
  a.span_offsets = step.selection->offsets.data();
  a.span_q_block = step.selection->q_block;
  if (step.selection->per_query_head) {
    a.kv_repeat = c_.n_head / c_.n_head_kv;
    a.n_kv_head = c_.n_head;
  }
  a.out = attn_.data();
  a.lse = step.lse ? lse_.data() : nullptr;
  return a;
}

void CpuBackend::attend(const AttendStep& step, const KvCache& cache) {
  cpu::attention(args(step, cache));
}

void CpuBackend::attention_mass(const AttendStep& step, const KvCache& cache, int64_t q_begin,
                                float* mass) {
  cpu::AttentionArgs a = args(step, cache);
  a.mass_max = step.mass_max;
  cpu::attention_mass(a, q_begin, mass);
}

void CpuBackend::attention_output(int64_t il, int64_t n) {
  const LayerWeights& L = model_.layers[size_t(il)];
  const int64_t d = c_.n_embd;
  cpu::matmul(L.wo, attn_.data(), n, o_.data());
  if (L.post_attn_norm) {
    for (int64_t t = 0; t < n; ++t)
      cpu::rms_norm(o_.data() + t * d, L.post_attn_norm, float(c_.rms_eps), d, o_.data() + t * d);
  }
  cpu::add(x_.data(), o_.data(), n * d);
}

void CpuBackend::ffn(int64_t il, int64_t n) {
  const LayerWeights& L = model_.layers[size_t(il)];
  const int64_t d = c_.n_embd;
  const float eps = float(c_.rms_eps);
  for (int64_t t = 0; t < n; ++t)
    cpu::rms_norm(x_.data() + t * d, L.ffn_norm, eps, d, h_.data() + t * d);
  const cpu::MatmulOut gate_up[] = {{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}};
  cpu::matmul_shared_input(gate_up, h_.data(), n);
  if (c_.arch->activation == Activation::GeluTanh) {
    cpu::geglu_tanh(gate_.data(), up_.data(), n * c_.n_ff);
  } else {
    cpu::swiglu(gate_.data(), up_.data(), n * c_.n_ff);
  }
  cpu::matmul(L.w_down, gate_.data(), n, o_.data());
  if (L.post_ffn_norm) {
    for (int64_t t = 0; t < n; ++t)
      cpu::rms_norm(o_.data() + t * d, L.post_ffn_norm, eps, d, o_.data() + t * d);
  }
  cpu::add(x_.data(), o_.data(), n * d);
}

void CpuBackend::logits(int64_t n, int64_t first, float* out) {
  const int64_t d = c_.n_embd;
  for (int64_t t = first; t < n; ++t) {
    cpu::rms_norm(x_.data() + t * d, model_.output_norm, float(c_.rms_eps), d,
                  h_.data() + (t - first) * d);
  }
  cpu::matmul(model_.output, h_.data(), n - first, out);
}

void CpuBackend::mark_attention(bool begin) {
  const auto now = std::chrono::steady_clock::now();
  if (begin) {
    attention_start_ = now;
  } else {
    attention_ms_ += std::chrono::duration<double, std::milli>(now - attention_start_).count();
  }
}

}  // namespace

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  throw Error("--device " + name + ": expected cpu or cuda");
}

std::unique_ptr<Backend> make_cpu_backend(const Model& model, int64_t n_batch) {
  return std::make_unique<CpuBackend>(model, n_batch);
}

#ifndef LONGCTX_HAVE_CUDA
// A build without nvcc: the CUDA entry points say so.
bool cuda_usable(std::string* why) {
  if (why) *why = "this longctx was built without the CUDA backend (no nvcc at build time)";
  return false;
}

std::unique_ptr<Backend> make_cuda_backend(const Model&, int64_t, const KvCache&) {
  std::string why;
  cuda_usable(&why);
  throw Error("--device cuda: " + why);
}
#endif

}  // namespace longctx
