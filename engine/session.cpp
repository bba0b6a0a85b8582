#include "engine/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec.h"
#include "support/error.h"

namespace longctx {
namespace {

std::vector<std::unique_ptr<AttentionPolicy>> make_policies(const ModelConfig& c,
                                                            const SessionOptions& o) {
  if (o.n_batch <= 0) throw Error("batch size must be positive");
  if (!o.attention.empty() && int64_t(o.attention.size()) != c.n_layer) {
    throw Error("attention: " + std::to_string(o.attention.size()) + " policies for " +
                std::to_string(c.n_layer) + " layers");
  }
  std::vector<std::unique_ptr<AttentionPolicy>> out;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    if (c.layer_is_local[size_t(il)] && c.sliding_window > 0) {
      out.push_back(make_sliding_window_policy(c.sliding_window));
    } else {
      out.push_back(o.attention.empty() ? make_dense_policy()
                                        : make_policy(o.attention[size_t(il)]));
    }
  }
  return out;
}

// A layer whose policy bounds what it holds needs that bound plus one chunk; the others the
// context. On a device the host cache holds nothing.
std::vector<int64_t> layer_capacities(const std::vector<std::unique_ptr<AttentionPolicy>>& policies,
                                      int64_t n_ctx, int64_t n_batch, Device device) {
  if (device != Device::Cpu) return std::vector<int64_t>(policies.size(), 0);
  std::vector<int64_t> cap;
  for (const auto& p : policies) {
    int64_t held = p->max_held();
    cap.push_back(held < 0 ? n_ctx : std::min(n_ctx, held + n_batch));
  }
  return cap;
}

}  // namespace

Session::Session(const Model& model, SessionOptions options)
    : model_(model),
      options_(options),
      n_ctx_(options.n_ctx > 0 ? options.n_ctx : model.config.n_ctx_train),
      policies_(make_policies(model.config, options)),
      cache_(model.config.n_layer, model.config.n_head_kv, model.config.head_dim,
             model.config.value_dim,
             layer_capacities(policies_, n_ctx_, options.n_batch, options.device),
             options.kv_type) {
  const ModelConfig& c = model.config;
  if (options_.device == Device::Cuda) {
    for (int64_t il = 0; il < c.n_layer; ++il) {
      const std::string name = policies_[size_t(il)]->name();
      if (name != "dense" && name.rfind("sliding", 0) != 0)
        throw Error("--device cuda runs dense attention so far; --attn " + name +
                    " runs on the CPU (--device cpu)");
    }
    device_ = make_cuda_forward(model, n_ctx_, options_.n_batch, options_.kv_type);
  }
  for (const auto& p : policies_) {
    min_last_chunk_ = std::max(min_last_chunk_, p->min_last_chunk());
    if (p->min_last_chunk() > options_.n_batch) {
      throw Error(p->name() + " observes the last " + std::to_string(p->min_last_chunk()) +
                  " prompt tokens together; raise the batch size (-b) to at least that");
    }
  }
  for (int64_t il = 0; il < c.n_layer; ++il) inv_freq_.push_back(c.rotary_frequencies(il));
  const int64_t b = options_.n_batch;
  x_.resize(size_t(b * c.n_embd));
  h_.resize(size_t(b * c.n_embd));
  o_.resize(size_t(b * c.n_embd));
  q_.resize(size_t(b * c.n_head * c.head_dim));
  k_.resize(size_t(b * c.n_head_kv * c.head_dim));
  v_.resize(size_t(b * c.n_head_kv * c.value_dim));
  attn_.resize(size_t(b * c.n_head * c.value_dim));
  gate_.resize(size_t(b * c.n_ff));
  up_.resize(size_t(b * c.n_ff));
  pos_.resize(size_t(b));
  layer_pos_.resize(size_t(b));
  rotation_.resize(size_t(c.n_rot));
  shift_.assign(size_t(c.n_layer), 0);
  lse_.resize(size_t(b * c.n_head));
}

void Session::clear() {
  cache_.clear();
  n_past_ = 0;
  evicted_ = false;
  std::fill(shift_.begin(), shift_.end(), 0);
  for (auto& p : policies_) p->reset();
}

int64_t Session::kv_bytes() const {
  return device_ ? device_->kv_bytes() : cache_.bytes();
}

int64_t Session::held_kv_bytes() const {
  return device_ ? device_->kv_bytes() * n_past_ / std::max<int64_t>(1, n_ctx_)
                 : cache_.held_bytes();
}

std::string Session::backend_name() const {
  return device_ ? device_->name()
                 : std::string("CPU (") + cpu::isa_name(cpu::detected_isa()) + ")";
}

int64_t Session::room() const {
  if (device_) return n_ctx_ - n_past_;
  int64_t room = std::numeric_limits<int64_t>::max() / 4;  // every layer bounded: no end
  for (int64_t il = 0; il < int64_t(policies_.size()); ++il) {
    if (policies_[size_t(il)]->max_held() < 0)
      room = std::min(room, cache_.capacity(il) - cache_.used(il));
  }
  return room;
}

bool Session::can_truncate(int64_t n) const {
  return !evicted_ || n >= n_past_;
}

void Session::truncate(int64_t n) {
  if (!can_truncate(n))
    throw Error("this session has evicted tokens; it cannot rewind to a prefix");
  if (n < n_past_) {
    for (auto& p : policies_) p->reset();
  }
  n_past_ = std::min(n_past_, n);
  cache_.truncate(n_past_);
}

std::span<const float> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t n_vocab = model_.config.n_vocab;
  if (int64_t(tokens.size()) > room()) {
    throw Error("the context holds " + std::to_string(n_ctx_) + " tokens; " +
                std::to_string(n_ctx_ - room()) + " are in use and " +
                std::to_string(tokens.size()) + " more do not fit (raise -c)");
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= n_vocab)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary");
  }
  logits_.resize(size_t((all_logits ? int64_t(tokens.size()) : 1) * n_vocab));
  // Chunks of n_batch; the last one holds at least what an observing policy needs.
  const int64_t total = int64_t(tokens.size());
  for (int64_t start = 0; start < total;) {
    int64_t n = std::min<int64_t>(options_.n_batch, total - start);
    int64_t after = total - start - n;
    if (after > 0 && after < min_last_chunk_) n -= min_last_chunk_ - after;
    bool last_chunk = start + n == total;
    float* out = all_logits ? logits_.data() + start * n_vocab : logits_.data();
    forward_chunk(tokens.data() + start, n, out, all_logits || last_chunk, last_chunk && total > 1);
    start += n;
  }
  return logits_;
}

// The layer loop: the same recipe for every architecture, steered by its ArchInfo flags.
void Session::forward_chunk(const int32_t* tokens, int64_t n, float* logits_out, bool want_logits,
                            bool prompt_end) {
  const ModelConfig& c = model_.config;
  if (device_) {
    const bool all = logits_.size() > size_t(c.n_vocab);
    device_->forward(tokens, n, n_past_, want_logits ? logits_out : nullptr, all);
    n_past_ += n;
    return;
  }
  const int64_t d = c.n_embd;
  for (int64_t t = 0; t < n; ++t) {
    cpu::dequantize_row(model_.token_embd, tokens[t], x_.data() + t * d);
    pos_[size_t(t)] = int32_t(n_past_ + t);
  }
  if (c.arch->embedding_scale) cpu::scale_f32(x_.data(), std::sqrt(float(d)), n * d);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    attention_block(il, n, prompt_end);
    ffn_block(il, n);
  }
  n_past_ += n;
  if (!want_logits) return;
  // Logits of the last token only, unless the caller wants every position (perplexity).
  bool all = logits_.size() > size_t(c.n_vocab);
  int64_t first = all ? 0 : n - 1;
  for (int64_t t = first; t < n; ++t) {
    cpu::rms_norm(x_.data() + t * d, model_.output_norm, float(c.rms_eps), d,
                  h_.data() + (t - first) * d);
  }
  cpu::matmul(model_.output, h_.data(), n - first, logits_out);
}

void Session::attention_block(int64_t il, int64_t n, bool prompt_end) {
  const ModelConfig& c = model_.config;
  const LayerWeights& L = model_.layers[size_t(il)];
  const int64_t d = c.n_embd, hd = c.head_dim;
  const float eps = float(c.rms_eps);
  for (int64_t t = 0; t < n; ++t)
    cpu::rms_norm(x_.data() + t * d, L.attn_norm, eps, d, h_.data() + t * d);
  const cpu::MatmulOut qkv[] = {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}};
  cpu::matmul_shared_input(qkv, h_.data(), n);
  const int64_t q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  auto rope_layout =
      c.rope_type == RopeType::Neox ? cpu::RopeLayout::Halves : cpu::RopeLayout::Pairs;
  // Positions inside this layer's cache: lower than the token's by what eviction shifted out.
  for (int64_t t = 0; t < n; ++t)
    layer_pos_[size_t(t)] = pos_[size_t(t)] - int32_t(shift_[size_t(il)]);
  for (int64_t t = 0; t < n; ++t) {
    float* q = q_.data() + t * q_dim;
    float* k = k_.data() + t * kv_dim;
    if (L.bq) cpu::add(q, L.bq, q_dim);
    if (L.bk) cpu::add(k, L.bk, kv_dim);
    if (L.bv) cpu::add(v_.data() + t * c.n_head_kv * c.value_dim, L.bv, c.n_head_kv * c.value_dim);
    if (L.q_norm) {
      for (int64_t h = 0; h < c.n_head; ++h)
        cpu::rms_norm(q + h * hd, L.q_norm, eps, hd, q + h * hd);
      for (int64_t h = 0; h < c.n_head_kv; ++h)
        cpu::rms_norm(k + h * hd, L.k_norm, eps, hd, k + h * hd);
    }
    cpu::rope(q, c.n_head, hd, c.n_rot, inv_freq_[size_t(il)].data(), layer_pos_[size_t(t)],
              rope_layout);
    cpu::rope(k, c.n_head_kv, hd, c.n_rot, inv_freq_[size_t(il)].data(), layer_pos_[size_t(t)],
              rope_layout);
  }
  cache_.append(il, n, k_.data(), v_.data(), layer_pos_.data());

  const int64_t window = c.layer_is_local[size_t(il)] ? c.sliding_window : 0;
  const auto attention_start = std::chrono::steady_clock::now();
  AttentionPolicy& policy = *policies_[size_t(il)];
  StepInfo step;
  step.layer = il;
  step.n_kv_head = c.n_head_kv;
  step.n_cached = cache_.used(il);
  step.first_q_pos = layer_pos_[0];
  step.window = window;
  step.prompt_end = prompt_end;
  step.q = q_.data();
  step.n_q = n;
  step.n_head = c.n_head;
  step.head_dim = hd;
  step.scale = c.attention_scale;
  step.cache = &cache_;
  policy.plan(step, selection_);
  const int64_t observed = std::min(n, policy.observe_queries(step));
  cpu::AttentionArgs a;
  a.q = q_.data();
  a.n_q = n;
  a.n_head = c.n_head;
  a.n_kv_head = c.n_head_kv;
  a.head_dim = hd;
  a.kv_type = cache_.type();
  a.k = cache_.keys(il);
  a.v = cache_.values(il);
  a.capacity = cache_.capacity(il);
  a.key_pos = cache_.positions(il);
  a.q_pos = layer_pos_.data();
  a.window = window;
  a.scale = c.attention_scale;
  a.spans = selection_.spans.data();
  a.span_offsets = selection_.offsets.data();
  a.span_q_block = selection_.q_block;
  a.out = attn_.data();
  a.lse = observed > 0 ? lse_.data() : nullptr;
  cpu::attention(a);
  if (observed > 0) {
    mass_.assign(size_t(c.n_head_kv * a.capacity), 0.0f);
    cpu::attention_mass(a, n - observed, mass_.data());
    policy.observe(step, mass_.data());
  }
  eviction_.clear();
  step.n_cached = cache_.used(il);
  policy.evict(step, eviction_);
  apply_eviction(il, eviction_);
  attention_ms_ +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - attention_start)
          .count();

  cpu::matmul(L.wo, attn_.data(), n, o_.data());
  if (L.post_attn_norm) {
    for (int64_t t = 0; t < n; ++t)
      cpu::rms_norm(o_.data() + t * d, L.post_attn_norm, eps, d, o_.data() + t * d);
  }
  cpu::add(x_.data(), o_.data(), n * d);
}

void Session::apply_eviction(int64_t il, const Eviction& ev) {
  const ModelConfig& c = model_.config;
  if (ev.per_head > 0) {
    cache_.drop(il, ev.drops, ev.per_head);
    evicted_ = true;
  }
  if (ev.count <= 0) return;
  evicted_ = true;
  if (!ev.reposition) {
    cache_.evict_range(il, ev.begin, ev.count, nullptr);
    return;
  }
  // Every moved key turns back by the same angles: compute them once per eviction.
  const int64_t half = c.n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    double angle = -double(ev.count) * double(inv_freq_[size_t(il)][size_t(i)]);
    rotation_[size_t(i)] = float(std::cos(angle));
    rotation_[size_t(half + i)] = float(std::sin(angle));
  }
  auto layout = c.rope_type == RopeType::Neox ? cpu::RopeLayout::Halves : cpu::RopeLayout::Pairs;
  cache_.evict_range(il, ev.begin, ev.count, [&](float* key) {
    cpu::rope_table(key, c.head_dim, c.n_rot, rotation_.data(), rotation_.data() + half, layout);
  });
  shift_[size_t(il)] += ev.count;
}

void Session::ffn_block(int64_t il, int64_t n) {
  const ModelConfig& c = model_.config;
  const LayerWeights& L = model_.layers[size_t(il)];
  const int64_t d = c.n_embd;
  const float eps = float(c.rms_eps);
  for (int64_t t = 0; t < n; ++t)
    cpu::rms_norm(x_.data() + t * d, L.ffn_norm, eps, d, h_.data() + t * d);
  const cpu::MatmulOut gate_up[] = {{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}};
  cpu::matmul_shared_input(gate_up, h_.data(), n);
  if (c.arch->activation == Activation::GeluTanh) {
    cpu::geglu_tanh(gate_.data(), up_.data(), n * c.n_ff);
  } else {
    cpu::swiglu(gate_.data(), up_.data(), n * c.n_ff);
  }
  cpu::matmul(L.w_down, gate_.data(), n, o_.data());
  if (L.post_ffn_norm) {
    for (int64_t t = 0; t < n; ++t)
      cpu::rms_norm(o_.data() + t * d, L.post_ffn_norm, eps, d, o_.data() + t * d);
  }
  cpu::add(x_.data(), o_.data(), n * d);
}

}  // namespace longctx
