// The CUDA backend: the layer recipe of engine/cpu_backend.cpp with the weights uploaded once in
// their GGUF block formats and the KV cache's rows on the device. Every policy runs: the Session
// plans on the host over the cache's positions; the selection, the positions and an eviction's
// moves travel to the device through a pinned staging ring (no synchronisation); the device copies
// back only what a policy reads (queries, new rows, attention mass) and the logits.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/backend.h"
#include "kernels/common/page_selection.h"
#include "kernels/cuda/dequant.h"
#include "kernels/cuda/kernels.h"
#include "support/error.h"

namespace longctx {
namespace {

using cuda::Buffer;

static_assert(sizeof(cpu::KeySpan) == sizeof(cuda::KeySpan),
              "a selection's spans are copied as is");
static_assert(sizeof(KvMove) == 3 * sizeof(int32_t), "moves are copied as int32 triples");

// Host-to-device copies of small per-layer data (positions, selections, moves) without stopping
// the host: each goes into pinned memory and is copied asynchronously into the same offset of a
// device buffer, in stream order before the kernels that read it. When the ring is full it waits
// for the device and starts over: pointers handed out before belong to an older generation.
class StagingRing {
 public:
  explicit StagingRing(size_t bytes) { grow(bytes); }
  ~StagingRing() {
    if (host_) cudaFreeHost(host_);
  }
  StagingRing(const StagingRing&) = delete;
  StagingRing& operator=(const StagingRing&) = delete;

  // Room for `bytes` more (rounded as put() rounds): puts within it stay in one generation.
  void reserve(size_t bytes) {
    if (used_ + bytes <= capacity_) return;
    cuda::check(cudaDeviceSynchronize(), "staging ring");  // every copy out of it is done
    if (bytes > capacity_) grow(std::max(bytes, 2 * capacity_));
    used_ = 0;
    ++generation_;
  }
  template <typename T>
  const T* put(const T* data, size_t n) {
    const size_t bytes = rounded(n * sizeof(T));
    reserve(bytes);
    if (n > 0) {
      std::memcpy(host_ + used_, data, n * sizeof(T));
      cuda::check(cudaMemcpyAsync(device_.get() + used_, host_ + used_, n * sizeof(T),
                                  cudaMemcpyHostToDevice, 0),
                  "staging copy");
    }
    const T* out = reinterpret_cast<const T*>(device_.get() + used_);
    used_ += bytes;
    return out;
  }
  // Once the device has passed every copy (after a synchronisation).
  void reset() {
    used_ = 0;
    ++generation_;
  }
  uint64_t generation() const { return generation_; }
  static size_t rounded(size_t bytes) { return (bytes + 15) / 16 * 16; }

 private:
  void grow(size_t bytes) {
    if (host_) cudaFreeHost(host_);
    void* p = nullptr;
    cuda::check(cudaMallocHost(&p, bytes), "cudaMallocHost");
    host_ = static_cast<uint8_t*>(p);
    device_ = Buffer<uint8_t>();
    device_.resize(bytes);
    capacity_ = bytes;
  }
  uint8_t* host_ = nullptr;
  Buffer<uint8_t> device_;
  size_t capacity_ = 0, used_ = 0;
  uint64_t generation_ = 0;
};

struct DeviceLayer {
  Buffer<float> attn_norm, bq, bk, bv, q_norm, k_norm, post_attn_norm, ffn_norm, post_ffn_norm;
  cuda::DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
  Buffer<float> inv_freq;
  Buffer<uint8_t> k, v;  // [n_kv_head][capacity] rows
  Buffer<int32_t> key_pos;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Model& model, int64_t n_batch, const KvCache& cache);
  ~CudaBackend() override;
  std::string name() const override { return name_; }
  void embed(const int32_t* tokens, int64_t n) override;
  void project(int64_t il, int64_t n, const int32_t* pos, KvCache& cache) override;
  const float* host_queries(int64_t n) override;
  void attend(const AttendStep& step, const KvCache& cache) override;
  void attend_pages(const AttendStep& step, const PagePlan& plan, const KvCache& cache) override;
  void attention_mass(const AttendStep& step, const KvCache& cache, int64_t q_begin,
                      float* mass) override;
  void replay(int64_t il, const std::vector<KvMove>& moves, const KeyRotation* rotation,
              const KvCache& cache) override;
  void attention_output(int64_t il, int64_t n) override;
  void ffn(int64_t il, int64_t n) override;
  void logits(int64_t n, int64_t first, float* out) override;
  void mark_attention(bool begin) override;
  double attention_ms() override;
  void reset_attention_ms() override;
  void forget(int64_t n_kept) override {
    for (PageState& P : pages_)
      if (P.page > 0) P.done = std::min(P.done, n_kept / P.page);
  }

 private:
  cuda::DeviceMatrix upload(const kernels::MatrixView& m);
  void upload_vector(Buffer<float>& dst, const float* src, int64_t n);
  cuda::AttentionArgs base_args(const AttendStep& step, const KvCache& cache);
  cuda::AttentionArgs args(const AttendStep& step, const KvCache& cache);
  void stage_selection(const Selection& sel);
  void collect_timings();  // adds the finished event pairs to attention_ms_

  const Model& model_;
  const ModelConfig& c_;
  std::string name_;
  std::vector<Buffer<uint8_t>> matrices_;  // owns what the DeviceMatrix views point to
  std::vector<DeviceLayer> layers_;
  cuda::DeviceMatrix token_embd_, output_;
  Buffer<float> output_norm_;
  Buffer<float> x_, h_, q_, k_, v_, attn_, o_, gate_, up_, lse_, mass_, logits_;
  Buffer<int32_t> tokens_;
  StagingRing staging_{size_t(4) << 20};
  // What was staged last, reused while it does not change (the dense selection of every layer).
  std::vector<int32_t> staged_pos_;  // positions of the last project()
  const int32_t* pos_dev_ = nullptr;
  uint64_t pos_generation_ = ~uint64_t(0);
  Selection staged_selection_;
  uint64_t selection_generation_ = ~uint64_t(0);
  const cuda::KeySpan* spans_dev_ = nullptr;
  const int32_t* offsets_dev_ = nullptr;
  int64_t max_selected_ = 0;
  std::vector<float> host_q_, host_k_, host_v_, host_mass_;
  cuda::MatmulWorkspace matmul_ws_;
  cuda::AttentionWorkspace attention_ws_;
  cuda::KvMoveWorkspace move_ws_;
  // Quest's pages per layer, kept on the device from the layer's first ranked step.
  struct PageState {
    int64_t page = 0, max_pages = 0, done = 0;  // done: pages whose bounds are kept
    Buffer<float> mins, maxs;                   // [n_kv_head][max_pages][head_dim]
    Buffer<cuda::KeySpan> spans;                // [n_kv_head][pick + 1] of the last step
  };
  std::vector<PageState> pages_;
  cuda::PageWorkspace page_ws_;
  std::vector<int32_t> page_offsets_;
  std::vector<cudaEvent_t> events_;  // begin/end pairs of this chunk's attention marks
  size_t events_used_ = 0;
  double attention_ms_ = 0;
};

CudaBackend::CudaBackend(const Model& model, int64_t n_batch, const KvCache& cache)
    : model_(model), c_(model.config) {
  const ModelConfig& c = c_;
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
  // Prefill products in bfloat16 on the tensor cores unless LONGCTX_CUDA_GEMM=f32 asks for SGEMM.
  if (const char* p = std::getenv("LONGCTX_CUDA_GEMM"))
    matmul_ws_.precision = cuda::parse_gemm_precision(p);

  token_embd_ = upload(model.token_embd);
  output_ = model.output.data == model.token_embd.data ? token_embd_ : upload(model.output);
  upload_vector(output_norm_, model.output_norm, c.n_embd);
  const int64_t row_bytes = kernels::kv_row_bytes(cache.type(), c.head_dim);
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
    const int64_t cap = cache.capacity(il);
    d.k.resize(size_t(c.n_head_kv * cap * row_bytes));
    d.v.resize(size_t(c.n_head_kv * cap * row_bytes));
    d.key_pos.resize(size_t(c.n_head_kv * cap));
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
  lse_.resize(size_t(b * c.n_head));
  mass_.resize(size_t(c.n_head_kv * cache.max_capacity()));
  tokens_.resize(size_t(b));
  events_.resize(size_t(2 * c.n_layer));
  for (auto& e : events_) cuda::check(cudaEventCreate(&e), "cudaEventCreate");
}

CudaBackend::~CudaBackend() {
  for (auto& e : events_) cudaEventDestroy(e);
}

cuda::DeviceMatrix CudaBackend::upload(const kernels::MatrixView& m) {
  Buffer<uint8_t> buf;
  buf.upload(m.data, size_t(m.rows * m.row_bytes));
  cuda::DeviceMatrix d = m;
  d.data = buf.get();
  matrices_.push_back(std::move(buf));
  return d;
}

void CudaBackend::upload_vector(Buffer<float>& dst, const float* src, int64_t n) {
  dst.upload(src, size_t(n));
}

void CudaBackend::embed(const int32_t* tokens, int64_t n) {
  // A chunk starts: the device has passed the last chunk's copies and marks.
  collect_timings();
  staging_.reset();
  const int64_t d = c_.n_embd;
  tokens_.upload(tokens, size_t(n));
  cuda::embed(token_embd_, tokens_.get(), n, x_.get());
  if (c_.arch->embedding_scale) cuda::scale(x_.get(), std::sqrt(float(d)), n * d);
}

void CudaBackend::project(int64_t il, int64_t n, const int32_t* pos, KvCache& cache) {
  DeviceLayer& L = layers_[size_t(il)];
  const int64_t d = c_.n_embd, hd = c_.head_dim, q_dim = c_.n_head * hd, kv_dim = c_.n_head_kv * hd;
  const float eps = float(c_.rms_eps);
  if (pos_generation_ != staging_.generation() || staged_pos_.size() != size_t(n) ||
      !std::equal(pos, pos + n, staged_pos_.begin())) {
    staged_pos_.assign(pos, pos + n);
    pos_dev_ = staging_.put(pos, size_t(n));
    pos_generation_ = staging_.generation();
  }
  cuda::rms_norm(x_.get(), L.attn_norm.get(), eps, n, d, h_.get());
  cuda::matmul(L.wq, h_.get(), n, q_.get(), matmul_ws_);
  cuda::matmul(L.wk, h_.get(), n, k_.get(), matmul_ws_);
  cuda::matmul(L.wv, h_.get(), n, v_.get(), matmul_ws_);
  if (L.bq.get()) cuda::add_rows(q_.get(), L.bq.get(), n, q_dim);
  if (L.bk.get()) cuda::add_rows(k_.get(), L.bk.get(), n, kv_dim);
  if (L.bv.get()) cuda::add_rows(v_.get(), L.bv.get(), n, kv_dim);
  if (L.q_norm.get()) {
    cuda::rms_norm(q_.get(), L.q_norm.get(), eps, n * c_.n_head, hd, q_.get());
    cuda::rms_norm(k_.get(), L.k_norm.get(), eps, n * c_.n_head_kv, hd, k_.get());
  }
  const bool halves = c_.rope_type == RopeType::Neox;
  cuda::rope(q_.get(), n, c_.n_head, hd, c_.n_rot, L.inv_freq.get(), pos_dev_, halves);
  cuda::rope(k_.get(), n, c_.n_head_kv, hd, c_.n_rot, L.inv_freq.get(), pos_dev_, halves);
  // The host cache first: it checks the room, and keeps rows where the policy reads keys.
  const int64_t first_slot = cache.used(il);
  if (cache.stores_rows(il)) {
    host_k_.resize(size_t(n * kv_dim));
    host_v_.resize(size_t(n * kv_dim));
    k_.download(host_k_.data(), host_k_.size());
    v_.download(host_v_.data(), host_v_.size());
    cache.append(il, n, host_k_.data(), host_v_.data(), pos);
  } else {
    cache.append(il, n, nullptr, nullptr, pos);
  }
  const int64_t cap = cache.capacity(il);
  cuda::kv_append(cache.type(), k_.get(), n, c_.n_head_kv, hd, L.k.get(), cap, first_slot, pos_dev_,
                  L.key_pos.get());
  cuda::kv_append(cache.type(), v_.get(), n, c_.n_head_kv, hd, L.v.get(), cap, first_slot, pos_dev_,
                  L.key_pos.get());
}

const float* CudaBackend::host_queries(int64_t n) {
  host_q_.resize(size_t(n * c_.n_head * c_.head_dim));
  q_.download(host_q_.data(), host_q_.size());
  return host_q_.data();
}

void CudaBackend::stage_selection(const Selection& sel) {
  const bool same =
      selection_generation_ == staging_.generation() && sel.q_block == staged_selection_.q_block &&
      sel.offsets == staged_selection_.offsets &&
      std::equal(sel.spans.begin(), sel.spans.end(), staged_selection_.spans.begin(),
                 staged_selection_.spans.end(), [](const cpu::KeySpan& x, const cpu::KeySpan& y) {
                   return x.begin == y.begin && x.end == y.end;
                 });
  if (!same) {
    // The selection and (should the ring start over) the step's positions, in one generation.
    staging_.reserve(StagingRing::rounded(sel.spans.size() * sizeof(cpu::KeySpan)) +
                     StagingRing::rounded(sel.offsets.size() * sizeof(int32_t)) +
                     StagingRing::rounded(staged_pos_.size() * sizeof(int32_t)));
    staged_selection_ = sel;
    spans_dev_ =
        reinterpret_cast<const cuda::KeySpan*>(staging_.put(sel.spans.data(), sel.spans.size()));
    offsets_dev_ = staging_.put(sel.offsets.data(), sel.offsets.size());
    selection_generation_ = staging_.generation();
    if (pos_generation_ != staging_.generation()) {
      pos_dev_ = staging_.put(staged_pos_.data(), staged_pos_.size());
      pos_generation_ = staging_.generation();
    }
    max_selected_ = 0;
    for (size_t i = 0; i + 1 < sel.offsets.size(); ++i) {
      int64_t keys = 0;
      for (int32_t s = sel.offsets[i]; s < sel.offsets[i + 1]; ++s)
        keys += sel.spans[size_t(s)].end - sel.spans[size_t(s)].begin;
      max_selected_ = std::max(max_selected_, keys);
    }
  }
}

// Everything but the selection: the layer's cache, the step's queries and positions.
cuda::AttentionArgs CudaBackend::base_args(const AttendStep& step, const KvCache& cache) {
  DeviceLayer& L = layers_[size_t(step.layer)];
  cuda::AttentionArgs a;
  a.q = q_.get();
  a.n_q = step.n;
  a.n_head = c_.n_head;
  a.n_kv_head = c_.n_head_kv;
  a.head_dim = c_.head_dim;
  a.kv_type = cache.type();
  a.k = L.k.get();
  a.v = L.v.get();
  a.capacity = cache.capacity(step.layer);
  a.key_pos = L.key_pos.get();
  a.q_pos = pos_dev_;
  a.window = step.window;
  a.scale = c_.attention_scale;
  a.out = attn_.get();
  a.lse = step.lse ? lse_.get() : nullptr;
  return a;
}

cuda::AttentionArgs CudaBackend::args(const AttendStep& step, const KvCache& cache) {
  stage_selection(*step.selection);  // first: should the ring start over, positions follow
  cuda::AttentionArgs a = base_args(step, cache);
  a.spans = spans_dev_;
  a.span_offsets = offsets_dev_;
  a.span_q_block = step.selection->q_block;
  if (step.selection->per_query_head) {
    a.kv_repeat = c_.n_head / c_.n_head_kv;
    a.n_kv_head = c_.n_head;
  }
  a.max_selected = max_selected_;
  return a;
}

void CudaBackend::attend(const AttendStep& step, const KvCache& cache) {
  cuda::attention(args(step, cache), attention_ws_);
}

void CudaBackend::attend_pages(const AttendStep& step, const PagePlan& plan, const KvCache& cache) {
  const int64_t il = step.layer, hd = c_.head_dim, n_kv = c_.n_head_kv;
  const int64_t cap = cache.capacity(il), n_cached = cache.used(il);
  if (pages_.empty()) pages_.resize(size_t(c_.n_layer));
  PageState& P = pages_[size_t(il)];
  if (P.page != plan.page) {  // the layer's first ranked step: room for every page it can hold
    P.page = plan.page;
    P.max_pages = cap / plan.page + 1;
    P.mins.resize(size_t(n_kv * P.max_pages * hd));
    P.maxs.resize(size_t(n_kv * P.max_pages * hd));
    P.spans.resize(size_t(n_kv * (P.max_pages + 1)));
    P.done = 0;
  }
  const kernels::PageChoice ch = kernels::choose_pages(n_cached, plan.page, plan.budget);
  P.done = std::min(P.done, ch.complete);  // forget() already dropped what a rewind cut
  DeviceLayer& L = layers_[size_t(il)];
  cuda::page_bounds(cache.type(), L.k.get(), cap, n_kv, hd, plan.page, P.done, ch.complete - P.done,
                    P.max_pages, P.mins.get(), P.maxs.get());
  P.done = ch.complete;
  cuda::select_pages(q_.get(), c_.n_head, n_kv, hd, P.mins.get(), P.maxs.get(), P.max_pages,
                     ch.candidates, ch.pick, plan.page, ch.recent_begin, n_cached, P.spans.get(),
                     page_ws_);
  page_offsets_.resize(size_t(n_kv + 1));
  for (int64_t g = 0; g <= n_kv; ++g) page_offsets_[size_t(g)] = int32_t(g * (ch.pick + 1));
  // The span offsets (and, should the ring start over, the positions again), then the arguments.
  staging_.reserve(StagingRing::rounded(page_offsets_.size() * sizeof(int32_t)) +
                   StagingRing::rounded(staged_pos_.size() * sizeof(int32_t)));
  const int32_t* offsets = staging_.put(page_offsets_.data(), page_offsets_.size());
  if (pos_generation_ != staging_.generation()) {
    pos_dev_ = staging_.put(staged_pos_.data(), staged_pos_.size());
    pos_generation_ = staging_.generation();
  }
  cuda::AttentionArgs a = base_args(step, cache);
  a.span_offsets = offsets;
  a.spans = P.spans.get();
  a.span_q_block = 0;
  a.max_selected = ch.pick * plan.page + (n_cached - ch.recent_begin);
  cuda::attention(a, attention_ws_);
}

void CudaBackend::attention_mass(const AttendStep& step, const KvCache& cache, int64_t q_begin,
                                 float* mass) {
  const int64_t n = c_.n_head_kv * cache.capacity(step.layer);
  cuda::check(cudaMemsetAsync(mass_.get(), 0, size_t(n) * sizeof(float), 0), "clear mass");
  cuda::AttentionArgs a = args(step, cache);
  a.mass_max = step.mass_max;
  cuda::attention_mass(a, q_begin, mass_.get());
  host_mass_.resize(size_t(n));
  mass_.download(host_mass_.data(), size_t(n));
  for (int64_t i = 0; i < n; ++i) mass[i] += host_mass_[size_t(i)];
}

void CudaBackend::replay(int64_t il, const std::vector<KvMove>& moves, const KeyRotation* rotation,
                         const KvCache& cache) {
  if (moves.empty()) return;
  DeviceLayer& L = layers_[size_t(il)];
  const size_t half_bytes = StagingRing::rounded(size_t(c_.n_rot / 2) * sizeof(float));
  staging_.reserve(StagingRing::rounded(moves.size() * sizeof(KvMove)) + 2 * half_bytes);
  const int32_t* moves_dev =
      staging_.put(reinterpret_cast<const int32_t*>(moves.data()), 3 * moves.size());
  const float *cos = nullptr, *sin = nullptr;
  if (rotation) {
    cos = staging_.put(rotation->cos, size_t(c_.n_rot / 2));
    sin = staging_.put(rotation->sin, size_t(c_.n_rot / 2));
  }
  cuda::kv_move(cache.type(), L.k.get(), L.v.get(), L.key_pos.get(), cache.capacity(il),
                c_.head_dim, c_.value_dim, moves_dev, int64_t(moves.size()), cos, sin, c_.n_rot,
                c_.rope_type == RopeType::Neox, rotation ? rotation->shift : 0, move_ws_);
}

void CudaBackend::attention_output(int64_t il, int64_t n) {
  DeviceLayer& L = layers_[size_t(il)];
  const int64_t d = c_.n_embd;
  cuda::matmul(L.wo, attn_.get(), n, o_.get(), matmul_ws_);
  if (L.post_attn_norm.get())
    cuda::rms_norm(o_.get(), L.post_attn_norm.get(), float(c_.rms_eps), n, d, o_.get());
  cuda::add(x_.get(), o_.get(), n * d);
}

void CudaBackend::ffn(int64_t il, int64_t n) {
  DeviceLayer& L = layers_[size_t(il)];
  const int64_t d = c_.n_embd;
  const float eps = float(c_.rms_eps);
  cuda::rms_norm(x_.get(), L.ffn_norm.get(), eps, n, d, h_.get());
  cuda::matmul(L.w_gate, h_.get(), n, gate_.get(), matmul_ws_);
  cuda::matmul(L.w_up, h_.get(), n, up_.get(), matmul_ws_);
  cuda::gated(gate_.get(), up_.get(), n * c_.n_ff, c_.arch->activation == Activation::GeluTanh);
  cuda::matmul(L.w_down, gate_.get(), n, o_.get(), matmul_ws_);
  if (L.post_ffn_norm.get()) cuda::rms_norm(o_.get(), L.post_ffn_norm.get(), eps, n, d, o_.get());
  cuda::add(x_.get(), o_.get(), n * d);
}

void CudaBackend::logits(int64_t n, int64_t first, float* out) {
  const int64_t d = c_.n_embd, rows = n - first;
  cuda::rms_norm(x_.get() + first * d, output_norm_.get(), float(c_.rms_eps), rows, d, h_.get());
  logits_.resize(size_t(rows * c_.n_vocab));
  cuda::matmul(output_, h_.get(), rows, logits_.get(), matmul_ws_);
  logits_.download(out, size_t(rows * c_.n_vocab));  // synchronizes
}

void CudaBackend::mark_attention(bool begin) {
  if (events_used_ == events_.size()) collect_timings();  // more layers than marks: wait
  cuda::check(cudaEventRecord(events_[events_used_++], 0), "cudaEventRecord");
  (void)begin;  // marks alternate begin, end
}

void CudaBackend::collect_timings() {
  if (events_used_ == 0) return;
  cuda::check(cudaEventSynchronize(events_[events_used_ - 1]), "cudaEventSynchronize");
  for (size_t i = 0; i + 1 < events_used_; i += 2) {
    float ms = 0;
    cuda::check(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]), "cudaEventElapsedTime");
    attention_ms_ += ms;
  }
  events_used_ = 0;
}

double CudaBackend::attention_ms() {
  collect_timings();
  return attention_ms_;
}

void CudaBackend::reset_attention_ms() {
  collect_timings();
  attention_ms_ = 0;
}

}  // namespace

bool cuda_usable(std::string* why) {
  return cuda::device_available(why);
}

std::unique_ptr<Backend> make_cuda_backend(const Model& model, int64_t n_batch,
                                           const KvCache& cache) {
  std::string why;
  if (!cuda_usable(&why)) throw Error("--device cuda: " + why);
  return std::make_unique<CudaBackend>(model, n_batch, cache);
}

}  // namespace longctx
