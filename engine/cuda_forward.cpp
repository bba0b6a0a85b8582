// The forward pass on a CUDA device: the layer recipe of engine/session.cpp, with weights uploaded
// once in their GGUF block formats, the KV cache on the device, and one copy of the logits back.
// Attention runs the span-sparse kernel over the dense selection (sliding-window layers read only
// their window).
#include <cuda_runtime.h>

#include <cmath>
#include <vector>

#include "engine/device_forward.h"
#include "kernels/cuda/dequant.h"
#include "kernels/cuda/kernels.h"
#include "support/error.h"

namespace longctx {
namespace {

using cuda::Buffer;

struct DeviceLayer {
  Buffer<float> attn_norm, bq, bk, bv, q_norm, k_norm, post_attn_norm, ffn_norm, post_ffn_norm;
  cuda::DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
  Buffer<float> inv_freq;
  Buffer<uint8_t> k, v;  // [n_kv_head][capacity] rows
  Buffer<int32_t> key_pos;
};

class CudaForward final : public DeviceForward {
 public:
  CudaForward(const Model& model, int64_t n_ctx, int64_t n_batch, KvType kv_type);
  void forward(const int32_t* tokens, int64_t n, int64_t n_past, float* logits,
               bool all_logits) override;
  int64_t kv_bytes() const override { return kv_bytes_; }
  int64_t weight_bytes() const override { return weight_bytes_; }
  std::string name() const override { return name_; }

 private:
  cuda::DeviceMatrix upload(const kernels::MatrixView& m);
  void upload_vector(Buffer<float>& dst, const float* src, int64_t n);
  void attention(int64_t il, int64_t n, int64_t n_past);

  const Model& model_;
  int64_t n_ctx_, n_batch_;
  KvType kv_type_;
  std::string name_;
  std::vector<Buffer<uint8_t>> matrices_;  // owns what the DeviceMatrix views point to
  std::vector<DeviceLayer> layers_;
  cuda::DeviceMatrix token_embd_, output_;
  Buffer<float> output_norm_;
  Buffer<float> x_, h_, q_, k_, v_, attn_, o_, gate_, up_, logits_;
  Buffer<int32_t> tokens_, pos_, offsets_;
  Buffer<cuda::KeySpan> spans_;  // this chunk's selection: global layers', then local layers'
  int64_t local_begin_ = 0;      // first slot a sliding-window layer reads in this chunk
  cuda::MatmulWorkspace matmul_ws_;
  cuda::AttentionWorkspace attention_ws_;
  int64_t kv_bytes_ = 0, weight_bytes_ = 0;
};

CudaForward::CudaForward(const Model& model, int64_t n_ctx, int64_t n_batch, KvType kv_type)
    : model_(model), n_ctx_(n_ctx), n_batch_(n_batch), kv_type_(kv_type) {
  const ModelConfig& c = model.config;
  if (c.value_dim != c.head_dim)
    throw Error("--device cuda: keys and values of different lengths are not supported yet");
  if (c.head_dim > 256) throw Error("--device cuda: head_dim above 256");
  if (c.n_head / c.n_head_kv > 16)
    throw Error("--device cuda: more than 16 query heads per KV head are not supported yet");
  int dev = 0;
  cuda::check(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp prop{};
  cuda::check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  name_ = std::string("CUDA (") + prop.name + ")";

  token_embd_ = upload(model.token_embd);
  output_ = model.output.data == model.token_embd.data ? token_embd_ : upload(model.output);
  upload_vector(output_norm_, model.output_norm, c.n_embd);
  const int64_t row_bytes = kernels::kv_row_bytes(kv_type, c.head_dim);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const LayerWeights& L = model.layers[size_t(il)];
    DeviceLayer d;
    upload_vector(d.attn_norm, L.attn_norm, c.n_embd);
    d.wq = upload(L.wq);
    d.wk = upload(L.wk);
    d.wv = upload(L.wv);
    d.wo = upload(L.wo);
    if (L.bq) upload_vector(d.bq, L.bq, c.n_head * c.head_dim);
    if (L.bk) upload_vector(d.bk, L.bk, c.n_head_kv * c.head_dim);
    if (L.bv) upload_vector(d.bv, L.bv, c.n_head_kv * c.head_dim);
    if (L.q_norm) upload_vector(d.q_norm, L.q_norm, c.head_dim);
    if (L.k_norm) upload_vector(d.k_norm, L.k_norm, c.head_dim);
    if (L.post_attn_norm) upload_vector(d.post_attn_norm, L.post_attn_norm, c.n_embd);
    upload_vector(d.ffn_norm, L.ffn_norm, c.n_embd);
    if (L.post_ffn_norm) upload_vector(d.post_ffn_norm, L.post_ffn_norm, c.n_embd);
    d.w_gate = upload(L.w_gate);
    d.w_up = upload(L.w_up);
    d.w_down = upload(L.w_down);
    const auto f = c.rotary_frequencies(il);
    d.inv_freq.upload(f.data(), f.size());
    d.k.resize(size_t(c.n_head_kv * n_ctx * row_bytes));
    d.v.resize(size_t(c.n_head_kv * n_ctx * row_bytes));
    d.key_pos.resize(size_t(c.n_head_kv * n_ctx));
    kv_bytes_ += int64_t(d.k.bytes() + d.v.bytes());
    layers_.push_back(std::move(d));
  }
  const int64_t b = n_batch;
  x_.resize(size_t(b * c.n_embd));
  h_.resize(size_t(b * c.n_embd));
  o_.resize(size_t(b * c.n_embd));
  q_.resize(size_t(b * c.n_head * c.head_dim));
  k_.resize(size_t(b * c.n_head_kv * c.head_dim));
  v_.resize(size_t(b * c.n_head_kv * c.head_dim));
  attn_.resize(size_t(b * c.n_head * c.head_dim));
  gate_.resize(size_t(b * c.n_ff));
  up_.resize(size_t(b * c.n_ff));
  tokens_.resize(size_t(b));
  pos_.resize(size_t(b));
  spans_.resize(size_t(2 * c.n_head_kv));
  offsets_.resize(size_t(c.n_head_kv + 1));
  std::vector<int32_t> offsets(size_t(c.n_head_kv + 1));
  for (size_t g = 0; g < offsets.size(); ++g) offsets[g] = int32_t(g);
  offsets_.upload(offsets.data(), offsets.size());
}

cuda::DeviceMatrix CudaForward::upload(const kernels::MatrixView& m) {
  Buffer<uint8_t> buf;
  buf.upload(m.data, size_t(m.rows * m.row_bytes));
  weight_bytes_ += int64_t(buf.bytes());
  cuda::DeviceMatrix d = m;
  d.data = buf.get();
  matrices_.push_back(std::move(buf));
  return d;
}

void CudaForward::upload_vector(Buffer<float>& dst, const float* src, int64_t n) {
  dst.upload(src, size_t(n));
  weight_bytes_ += int64_t(dst.bytes());
}

void CudaForward::forward(const int32_t* tokens, int64_t n, int64_t n_past, float* logits,
                          bool all_logits) {
  const ModelConfig& c = model_.config;
  const int64_t d = c.n_embd;
  tokens_.upload(tokens, size_t(n));
  std::vector<int32_t> pos(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) pos[size_t(t)] = int32_t(n_past + t);
  pos_.upload(pos.data(), pos.size());
  // The chunk's selections, once for every layer. Slots equal positions (nothing is evicted
  // here): a sliding-window layer reads only the keys its first query can still see.
  local_begin_ = c.sliding_window > 0 ? std::max<int64_t>(0, n_past - c.sliding_window + 1) : 0;
  std::vector<cuda::KeySpan> spans(size_t(2 * c.n_head_kv), {0, int32_t(n_past + n)});
  for (int64_t g = 0; g < c.n_head_kv; ++g)
    spans[size_t(c.n_head_kv + g)].begin = int32_t(local_begin_);
  spans_.upload(spans.data(), spans.size());
  cuda::embed(token_embd_, tokens_.get(), n, x_.get());
  if (c.arch->embedding_scale) cuda::scale(x_.get(), std::sqrt(float(d)), n * d);
  const float eps = float(c.rms_eps);
  const bool gelu = c.arch->activation == Activation::GeluTanh;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    DeviceLayer& L = layers_[size_t(il)];
    cuda::rms_norm(x_.get(), L.attn_norm.get(), eps, n, d, h_.get());
    cuda::matmul(L.wq, h_.get(), n, q_.get(), matmul_ws_);
    cuda::matmul(L.wk, h_.get(), n, k_.get(), matmul_ws_);
    cuda::matmul(L.wv, h_.get(), n, v_.get(), matmul_ws_);
    attention(il, n, n_past);
    cuda::matmul(L.wo, attn_.get(), n, o_.get(), matmul_ws_);
    if (L.post_attn_norm.get())
      cuda::rms_norm(o_.get(), L.post_attn_norm.get(), eps, n, d, o_.get());
    cuda::add(x_.get(), o_.get(), n * d);
    cuda::rms_norm(x_.get(), L.ffn_norm.get(), eps, n, d, h_.get());
    cuda::matmul(L.w_gate, h_.get(), n, gate_.get(), matmul_ws_);
    cuda::matmul(L.w_up, h_.get(), n, up_.get(), matmul_ws_);
    cuda::gated(gate_.get(), up_.get(), n * c.n_ff, gelu);
    cuda::matmul(L.w_down, gate_.get(), n, o_.get(), matmul_ws_);
    if (L.post_ffn_norm.get()) cuda::rms_norm(o_.get(), L.post_ffn_norm.get(), eps, n, d, o_.get());
    cuda::add(x_.get(), o_.get(), n * d);
  }
  if (!logits) {
    cuda::check(cudaDeviceSynchronize(), "forward");
    return;
  }
  const int64_t first = all_logits ? 0 : n - 1, rows = n - first;
  cuda::rms_norm(x_.get() + first * d, output_norm_.get(), eps, rows, d, h_.get());
  logits_.resize(size_t(rows * c.n_vocab));
  cuda::matmul(output_, h_.get(), rows, logits_.get(), matmul_ws_);
  logits_.download(logits, size_t(rows * c.n_vocab));  // synchronizes
}

void CudaForward::attention(int64_t il, int64_t n, int64_t n_past) {
  const ModelConfig& c = model_.config;
  DeviceLayer& L = layers_[size_t(il)];
  const int64_t hd = c.head_dim, q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  if (L.bq.get()) cuda::add_rows(q_.get(), L.bq.get(), n, q_dim);
  if (L.bk.get()) cuda::add_rows(k_.get(), L.bk.get(), n, kv_dim);
  if (L.bv.get()) cuda::add_rows(v_.get(), L.bv.get(), n, kv_dim);
  const float eps = float(c.rms_eps);
  if (L.q_norm.get()) {
    cuda::rms_norm(q_.get(), L.q_norm.get(), eps, n * c.n_head, hd, q_.get());
    cuda::rms_norm(k_.get(), L.k_norm.get(), eps, n * c.n_head_kv, hd, k_.get());
  }
  const bool halves = c.rope_type == RopeType::Neox;
  cuda::rope(q_.get(), n, c.n_head, hd, c.n_rot, L.inv_freq.get(), pos_.get(), halves);
  cuda::rope(k_.get(), n, c.n_head_kv, hd, c.n_rot, L.inv_freq.get(), pos_.get(), halves);
  cuda::kv_append(kv_type_, k_.get(), n, c.n_head_kv, hd, L.k.get(), n_ctx_, n_past, pos_.get(),
                  L.key_pos.get());
  cuda::kv_append(kv_type_, v_.get(), n, c.n_head_kv, hd, L.v.get(), n_ctx_, n_past, pos_.get(),
                  L.key_pos.get());
  const int64_t window = c.layer_is_local[size_t(il)] ? c.sliding_window : 0;
  const int64_t begin = window > 0 ? local_begin_ : 0;
  cuda::AttentionArgs a;
  a.q = q_.get();
  a.n_q = n;
  a.n_head = c.n_head;
  a.n_kv_head = c.n_head_kv;
  a.head_dim = hd;
  a.kv_type = kv_type_;
  a.k = L.k.get();
  a.v = L.v.get();
  a.capacity = n_ctx_;
  a.key_pos = L.key_pos.get();
  a.q_pos = pos_.get();
  a.window = window;
  a.scale = c.attention_scale;
  a.spans = spans_.get() + (window > 0 ? c.n_head_kv : 0);
  a.span_offsets = offsets_.get();
  a.max_selected = n_past + n - begin;
  a.out = attn_.get();
  cuda::attention(a, attention_ws_);
}

}  // namespace

bool cuda_usable(std::string* why) {
  return cuda::device_available(why);
}

std::unique_ptr<DeviceForward> make_cuda_forward(const Model& model, int64_t n_ctx, int64_t n_batch,
                                                 KvType kv_type) {
  std::string why;
  if (!cuda_usable(&why)) throw Error("--device cuda: " + why);
  return std::make_unique<CudaForward>(model, n_ctx, n_batch, kv_type);
}

}  // namespace longctx
