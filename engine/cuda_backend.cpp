// The CUDA backend: the operations of engine/backend.h with the weights uploaded once per device in
// their GGUF block formats (CudaModel, shared by every session) and each session's KV cache rows
// on the device (CudaBackend). Every policy runs: the Session plans
// on the host over the KvBook's positions; the selection, the positions and an eviction's moves
// travel to the device through a pinned staging ring (no synchronisation); the device copies back
// only what a policy reads (queries, new rows, attention mass) and the logits.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda_staging.h"
#include "kernels/common/page_selection.h"
#include "kernels/cuda/dequant.h"
#include "kernels/cuda/kernels.h"
#include "support/error.h"

namespace longctx {
namespace {

using cuda::Buffer;
using cuda::StagingRing;
using kernels::MatrixView;
static_assert(sizeof(KvMove) == 3 * sizeof(int32_t), "moves are copied as int32 triples");

// A session's per-layer state on the device: its rope table and its cache's rows and positions.
struct DeviceLayer {
  Buffer<float> inv_freq;
  float amplitude = 1.0f;  // on the rotated dimensions (yarn, LongRoPE)
  Buffer<uint8_t> k, v;    // [n_kv_head][capacity] rows
  Buffer<int32_t> key_pos;
};

// The weights on the device, uploaded once in their block formats and shared by every session's
// backend: found by the address of their host copy (a view or a vector of the Model).
class CudaModel final : public DeviceModel, public std::enable_shared_from_this<CudaModel> {
 public:
  explicit CudaModel(const Model& model);
  std::string name() const override { return name_; }
  std::string kind() const override { return "cuda"; }
  const Model& model() const override { return model_; }
  int64_t uploaded_bytes() const override { return uploaded_bytes_; }
  std::unique_ptr<Backend> open(int64_t n_batch, const KvLayout& layout,
                                const std::vector<bool>& host,
                                const RopeTable& rope) const override;
  const MatrixView& device(const MatrixView& host) const;
  const float* device(const float* host) const;

 private:
  void upload(const MatrixView& m);
  void upload(const float* v, int64_t n);

  const Model& model_;
  std::string name_;
  std::unordered_map<const void*, MatrixView> matrices_;
  std::unordered_map<const float*, Buffer<float>> vectors_;
  std::vector<Buffer<uint8_t>> matrix_blocks_;  // what matrices_' views point to
  int64_t uploaded_bytes_ = 0;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(std::shared_ptr<const CudaModel> weights, int64_t n_batch, const KvLayout& layout,
              const std::vector<bool>& host, const RopeTable& rope);
  ~CudaBackend() override;
  std::string name() const override { return weights_->name(); }
  void embed(const int32_t* tokens, int64_t n) override;
  void scale(Act a, float factor, int64_t count) override { cuda::scale(buf(a), factor, count); }
  void rms_norm(Act in, const float* weight, float eps, int64_t rows, int64_t width,
                Act out) override {
    cuda::rms_norm(buf(in), device(weight), eps, rows, width, buf(out));
  }
  void matmul(std::span<const Product> products, Act in, int64_t n) override {
    for (const Product& p : products)
      cuda::matmul(device(*p.w), buf(in), n, buf(p.out), matmul_ws_);
  }
  void add_bias(Act a, const float* bias, int64_t rows, int64_t width) override {
    cuda::add_rows(buf(a), device(bias), rows, width);
  }
  void rope(Act a, int64_t il, int64_t n, int64_t heads, const int32_t* pos) override;
  void kv_append(int64_t il, int64_t slot, int64_t n, const int32_t* pos) override;
  void attend(const AttendStep& step, const KvBook& book) override;
  void attend_ranked(const AttendStep& step, const DeviceRanking& ranking,
                     const KvBook& book) override;
  void attention_mass(const AttendStep& step, const KvBook& book, int64_t q_begin,
                      float* mass) override;
  void replay(int64_t il, const std::vector<KvMove>& moves, const KeyRotation* rotation) override;
  const KvRows& host_rows() const override { return host_rows_; }
  void copy_rows(const Backend&) override {
    throw Error("a CUDA session cannot take another session's cache yet (shared prefill)");
  }
  void gated_activation(Activation act, int64_t count) override {
    cuda::gated(buf(Act::Gate), buf(Act::Up), count, act == Activation::GeluTanh);
  }
  void route(int64_t n) override {
    const ExpertFfn& e = c_.experts;
    cuda::route(buf(Act::Router), n, e.count, e.used, e.renormalize, route_ids_.get(),
                route_weights_.get());
  }
  Routes routes(int64_t n) override;
  void experts(const LayerWeights& layer, Activation act, int64_t n) override;
  void add(Act dst, Act src, int64_t count) override { cuda::add(buf(dst), buf(src), count); }
  void output(Act in, int64_t first, int64_t n, float* out) override;
  void write(Act a, const float* src, int64_t count) override {
    acts_[size_t(a)].upload(src, size_t(count));
  }
  const float* read(Act a, int64_t count) override;
  void mark_attention(bool begin) override;
  double attention_ms() override;
  void reset_attention_ms() override;
  void forget(int64_t n_kept) override {
    for (PageState& P : pages_)
      if (P.page > 0) P.done = std::min(P.done, n_kept / P.page);
  }

 private:
  float* buf(Act a) { return acts_[size_t(a)].get(); }
  // The uploaded copy of a host weight.
  const MatrixView& device(const MatrixView& host) const { return weights_->device(host); }
  const float* device(const float* host) const { return weights_->device(host); }
  const int32_t* stage_positions(const int32_t* pos, int64_t n);
  // The kernel's arguments but the selection: the layer's cache, the queries and positions.
  kernels::AttentionArgs base_args(const AttendStep& step);
  kernels::AttentionArgs args(const AttendStep& step);
  void stage_selection(const Selection& sel);
  void collect_timings();  // adds the finished event pairs to attention_ms_

  std::shared_ptr<const CudaModel> weights_;  // shared with every session on the device
  const Model& model_;
  const ModelConfig& c_;
  KvLayout layout_;
  std::vector<DeviceLayer> layers_;  // the cache's rows and positions, the rope table
  KvRows host_rows_;                 // for the layers whose policy reads keys on the host
  std::vector<Buffer<float>> acts_;  // by Act, sized for n_batch tokens
  Buffer<float> lse_, mass_, logits_;
  Buffer<int32_t> tokens_;
  StagingRing staging_{size_t(4) << 20};
  // What was staged last, reused while it does not change (the dense selection of every layer).
  std::vector<int32_t> staged_pos_;  // positions of the last rope() or kv_append()
  const int32_t* pos_dev_ = nullptr;
  uint64_t pos_generation_ = ~uint64_t(0);
  Selection staged_selection_;
  uint64_t selection_generation_ = ~uint64_t(0);
  const cuda::KeySpan* spans_dev_ = nullptr;
  const int32_t* offsets_dev_ = nullptr;
  int64_t max_selected_ = 0;
  std::vector<float> host_act_, host_k_, host_v_, host_mass_;
  // Routed experts: the last route() on the device, its ids on the host grouped by expert, and
  // one expert's gathered rows, gate, up and output.
  Buffer<int32_t> route_ids_;
  Buffer<float> route_weights_, expert_in_, expert_gate_, expert_up_, expert_out_;
  std::vector<int32_t> host_ids_;
  ExpertGroups groups_;
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

CudaModel::CudaModel(const Model& model) : model_(model) {
  const ModelConfig& c = model.config;  // within the kernels' limits: the loaders checked
  int dev = 0;
  cuda::check(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp prop{};
  cuda::check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  name_ = std::string("CUDA (") + prop.name + ")";
  upload(model.token_embd);
  upload(model.output);  // the embedding again when tied: found, not copied twice
  upload(model.output_norm, c.n_embd);
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const LayerWeights& L = model.layers[size_t(il)];
    for (const MatrixView* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      upload(*m);
    for (const float* norm : {L.attn_norm, L.post_attn_norm, L.ffn_norm, L.post_ffn_norm})
      upload(norm, c.n_embd);
    upload(L.q_norm, c.head_dim);
    upload(L.k_norm, c.head_dim);
    upload(L.bq, q_dim);
    upload(L.bk, kv_dim);
    upload(L.bv, c.n_head_kv * c.value_dim);
    upload(L.router);
    for (const auto* experts : {&L.gate_exps, &L.up_exps, &L.down_exps})
      for (const MatrixView& m : *experts) upload(m);
  }
}

void CudaModel::upload(const MatrixView& m) {
  if (!m.data || matrices_.count(m.data)) return;
  Buffer<uint8_t> blocks;
  blocks.upload(m.data, size_t(m.rows * m.row_bytes));
  uploaded_bytes_ += m.rows * m.row_bytes;
  MatrixView d = m;
  d.data = blocks.get();
  matrix_blocks_.push_back(std::move(blocks));
  matrices_.emplace(m.data, d);
}

void CudaModel::upload(const float* v, int64_t n) {
  if (!v || vectors_.count(v)) return;
  vectors_[v].upload(v, size_t(n));
  uploaded_bytes_ += n * int64_t(sizeof(float));
}

const MatrixView& CudaModel::device(const MatrixView& host) const {
  auto it = matrices_.find(host.data);
  if (it == matrices_.end()) throw Error("CUDA backend: a weight matrix was not uploaded");
  return it->second;
}

const float* CudaModel::device(const float* host) const {
  auto it = vectors_.find(host);
  if (it == vectors_.end()) throw Error("CUDA backend: a weight vector was not uploaded");
  return it->second.get();
}

std::unique_ptr<Backend> CudaModel::open(int64_t n_batch, const KvLayout& layout,
                                         const std::vector<bool>& host,
                                         const RopeTable& rope) const {
  return std::make_unique<CudaBackend>(shared_from_this(), n_batch, layout, host, rope);
}

CudaBackend::CudaBackend(std::shared_ptr<const CudaModel> weights, int64_t n_batch,
                         const KvLayout& layout, const std::vector<bool>& host,
                         const RopeTable& rope)
    : weights_(std::move(weights)),
      model_(weights_->model()),
      c_(model_.config),
      layout_(layout),
      host_rows_(layout, host) {
  const ModelConfig& c = c_;
  // Prefill products in bfloat16 on the tensor cores unless LONGCTX_CUDA_GEMM=f32 asks for SGEMM.
  if (const char* p = std::getenv("LONGCTX_CUDA_GEMM"))
    matmul_ws_.precision = cuda::parse_gemm_precision(p);
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  const int64_t row_bytes = layout.key_row_bytes();
  for (int64_t il = 0; il < c.n_layer; ++il) {
    DeviceLayer d;
    d.inv_freq.upload(rope[size_t(il)].inv_freq.data(), rope[size_t(il)].inv_freq.size());
    d.amplitude = rope[size_t(il)].amplitude;
    const int64_t cap = layout.capacity[size_t(il)];
    d.k.resize(size_t(c.n_head_kv * cap * row_bytes));
    d.v.resize(size_t(c.n_head_kv * cap * row_bytes));
    d.key_pos.resize(size_t(c.n_head_kv * cap));
    layers_.push_back(std::move(d));
  }
  const int64_t b = n_batch;
  acts_.resize(size_t(Act::Router) + 1);
  acts_[size_t(Act::X)].resize(size_t(b * c.n_embd));
  acts_[size_t(Act::H)].resize(size_t(b * c.n_embd));
  acts_[size_t(Act::O)].resize(size_t(b * c.n_embd));
  acts_[size_t(Act::Q)].resize(size_t(b * q_dim));
  acts_[size_t(Act::K)].resize(size_t(b * kv_dim));
  acts_[size_t(Act::V)].resize(size_t(b * c.n_head_kv * c.value_dim));
  acts_[size_t(Act::Attn)].resize(size_t(b * c.n_head * c.value_dim));
  acts_[size_t(Act::Gate)].resize(size_t(b * c.n_ff));
  acts_[size_t(Act::Up)].resize(size_t(b * c.n_ff));
  if (const ExpertFfn& e = c.experts; e.count > 0) {
    acts_[size_t(Act::Router)].resize(size_t(b * e.count));
    route_ids_.resize(size_t(b * e.used));
    route_weights_.resize(size_t(b * e.used));
    expert_in_.resize(size_t(b * c.n_embd));
    expert_out_.resize(size_t(b * c.n_embd));
    expert_gate_.resize(size_t(b * e.n_ff));
    expert_up_.resize(size_t(b * e.n_ff));
    groups_.size(e.count, b, e.used);
  }
  lse_.resize(size_t(b * c.n_head));
  mass_.resize(size_t(c.n_head_kv * layout.max_capacity()));
  tokens_.resize(size_t(b));
  events_.resize(size_t(2 * c.n_layer));
  for (auto& e : events_) cuda::check(cudaEventCreate(&e), "cudaEventCreate");
}

CudaBackend::~CudaBackend() {
  for (auto& e : events_) cudaEventDestroy(e);
}

void CudaBackend::embed(const int32_t* tokens, int64_t n) {
  // A chunk starts: the device has passed the last chunk's copies and marks.
  collect_timings();
  staging_.reset();
  tokens_.upload(tokens, size_t(n));
  cuda::embed(device(model_.token_embd), tokens_.get(), n, buf(Act::X));
}

// The chunk's positions on the device, staged once while they do not change.
const int32_t* CudaBackend::stage_positions(const int32_t* pos, int64_t n) {
  if (pos_generation_ != staging_.generation() || staged_pos_.size() != size_t(n) ||
      !std::equal(pos, pos + n, staged_pos_.begin())) {
    staged_pos_.assign(pos, pos + n);
    pos_dev_ = staging_.put(pos, size_t(n));
    pos_generation_ = staging_.generation();
  }
  return pos_dev_;
}

void CudaBackend::rope(Act a, int64_t il, int64_t n, int64_t heads, const int32_t* pos) {
  const int32_t* pos_dev = stage_positions(pos, n);
  const DeviceLayer& d = layers_[size_t(il)];
  cuda::rope(buf(a), n, heads, c_.head_dim, c_.n_rot, d.inv_freq.get(), d.amplitude, pos_dev,
             c_.rope_type == RopeType::Neox);
}

void CudaBackend::kv_append(int64_t il, int64_t slot, int64_t n, const int32_t* pos) {
  DeviceLayer& L = layers_[size_t(il)];
  const int64_t hd = c_.head_dim, kv_dim = c_.n_head_kv * hd;
  const int32_t* pos_dev = stage_positions(pos, n);
  if (host_rows_.stores(il)) {  // a copy on the host where the policy reads keys
    host_k_.resize(size_t(n * kv_dim));
    host_v_.resize(size_t(n * c_.n_head_kv * c_.value_dim));
    acts_[size_t(Act::K)].download(host_k_.data(), host_k_.size());
    acts_[size_t(Act::V)].download(host_v_.data(), host_v_.size());
    host_rows_.write(il, slot, n, host_k_.data(), host_v_.data());
  }
  const int64_t cap = layout_.capacity[size_t(il)];
  cuda::kv_append(layout_.type, buf(Act::K), n, c_.n_head_kv, hd, L.k.get(), cap, slot, pos_dev,
                  L.key_pos.get());
  cuda::kv_append(layout_.type, buf(Act::V), n, c_.n_head_kv, hd, L.v.get(), cap, slot, pos_dev,
                  L.key_pos.get());
}

Routes CudaBackend::routes(int64_t n) {
  const size_t k = size_t(n * c_.experts.used);
  Routes r{std::vector<int32_t>(k), std::vector<float>(k)};
  route_ids_.download(r.ids.data(), k);
  route_weights_.download(r.weights.data(), k);
  return r;
}

// The experts one at a time over the rows routed to each, as the CPU backend runs them (the same
// order of additions per token). Which rows go where is read back to the host once per layer
// (a synchronisation): the grouping is a counting sort of n * used ids.
void CudaBackend::experts(const LayerWeights& L, Activation act, int64_t n) {
  const ExpertFfn& e = c_.experts;
  const int64_t d = c_.n_embd, k = e.used;
  host_ids_.resize(size_t(n * k));
  route_ids_.download(host_ids_.data(), host_ids_.size());
  groups_.group(host_ids_.data(), n * k);
  const int32_t* slots = staging_.put(groups_.slots.data(), size_t(n * k));
  cuda::check(cudaMemsetAsync(buf(Act::O), 0, size_t(n * d) * sizeof(float), 0), "cudaMemset");
  for (int64_t x = 0; x < e.count; ++x) {
    const int32_t first = groups_.first[size_t(x)], m = groups_.first[size_t(x + 1)] - first;
    if (m == 0) continue;
    cuda::gather_rows(buf(Act::H), slots + first, m, k, d, expert_in_.get());
    cuda::matmul(device(L.gate_exps[size_t(x)]), expert_in_.get(), m, expert_gate_.get(),
                 matmul_ws_);
    cuda::matmul(device(L.up_exps[size_t(x)]), expert_in_.get(), m, expert_up_.get(), matmul_ws_);
    cuda::gated(expert_gate_.get(), expert_up_.get(), m * e.n_ff, act == Activation::GeluTanh);
    cuda::matmul(device(L.down_exps[size_t(x)]), expert_gate_.get(), m, expert_out_.get(),
                 matmul_ws_);
    cuda::add_weighted_rows(expert_out_.get(), slots + first, route_weights_.get(), m, k, d,
                            buf(Act::O));
  }
}

const float* CudaBackend::read(Act a, int64_t count) {
  host_act_.resize(size_t(count));
  acts_[size_t(a)].download(host_act_.data(), host_act_.size());
  return host_act_.data();
}

void CudaBackend::stage_selection(const Selection& sel) {
  const bool same = selection_generation_ == staging_.generation() &&
                    sel.q_block == staged_selection_.q_block &&
                    sel.offsets == staged_selection_.offsets &&
                    std::equal(sel.spans.begin(), sel.spans.end(), staged_selection_.spans.begin(),
                               staged_selection_.spans.end(),
                               [](const kernels::KeySpan& x, const kernels::KeySpan& y) {
                                 return x.begin == y.begin && x.end == y.end;
                               });
  if (!same) {
    // The selection and (should the ring start over) the step's positions, in one generation.
    staging_.reserve(StagingRing::rounded(sel.spans.size() * sizeof(kernels::KeySpan)) +
                     StagingRing::rounded(sel.offsets.size() * sizeof(int32_t)) +
                     StagingRing::rounded(staged_pos_.size() * sizeof(int32_t)));
    staged_selection_ = sel;
    spans_dev_ = staging_.put(sel.spans.data(), sel.spans.size());
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

kernels::AttentionArgs CudaBackend::base_args(const AttendStep& step) {
  DeviceLayer& L = layers_[size_t(step.layer)];
  kernels::AttentionArgs a = attention_args(step, layout_, c_);
  a.q = buf(Act::Q);
  a.k = L.k.get();
  a.v = L.v.get();
  a.key_pos = L.key_pos.get();
  a.q_pos = pos_dev_;
  a.out = buf(Act::Attn);
  a.lse = step.lse ? lse_.get() : nullptr;
  return a;
}

kernels::AttentionArgs CudaBackend::args(const AttendStep& step) {
  stage_selection(*step.selection);  // first: should the ring start over, positions follow
  kernels::AttentionArgs a = base_args(step);
  a.spans = spans_dev_;
  a.span_offsets = offsets_dev_;
  a.max_selected = max_selected_;
  return a;
}

void CudaBackend::attend(const AttendStep& step, const KvBook&) {
  cuda::attention(args(step), attention_ws_);  // the device's positions mirror the book's
}

// RankMethod::BlockBounds (Quest): page bounds kept current on the device, pages scored against the
// query group's bound and the best chosen there, then one attention over the chosen spans.
void CudaBackend::attend_ranked(const AttendStep& step, const DeviceRanking& ranking,
                                const KvBook& book) {
  const DeviceRanking& plan = ranking;  // only BlockBounds: the kind lists no other method
  const int64_t il = step.layer, hd = c_.head_dim, n_kv = c_.n_head_kv;
  const int64_t cap = book.capacity(il), n_cached = book.used(il);
  if (pages_.empty()) pages_.resize(size_t(c_.n_layer));
  PageState& P = pages_[size_t(il)];
  if (P.page != plan.block) {  // the layer's first ranked step: room for every page it can hold
    P.page = plan.block;
    P.max_pages = cap / plan.block + 1;
    P.mins.resize(size_t(n_kv * P.max_pages * hd));
    P.maxs.resize(size_t(n_kv * P.max_pages * hd));
    P.spans.resize(size_t(n_kv * (P.max_pages + 1)));
    P.done = 0;
  }
  const kernels::PageChoice ch = kernels::choose_pages(n_cached, plan.block, plan.budget);
  P.done = std::min(P.done, ch.complete);  // forget() already dropped what a rewind cut
  DeviceLayer& L = layers_[size_t(il)];
  cuda::page_bounds(layout_.type, L.k.get(), cap, n_kv, hd, plan.block, P.done,
                    ch.complete - P.done, P.max_pages, P.mins.get(), P.maxs.get());
  P.done = ch.complete;
  cuda::select_pages(buf(Act::Q), c_.n_head, n_kv, hd, P.mins.get(), P.maxs.get(), P.max_pages,
                     ch.candidates, ch.pick, plan.block, ch.recent_begin, n_cached, P.spans.get(),
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
  AttendStep pages_step = step;
  pages_step.selection = nullptr;  // the pages are the selection, one per KV head
  kernels::AttentionArgs a = base_args(pages_step);
  a.span_offsets = offsets;
  a.spans = P.spans.get();
  a.max_selected = ch.pick * plan.block + (n_cached - ch.recent_begin);
  cuda::attention(a, attention_ws_);
}

void CudaBackend::attention_mass(const AttendStep& step, const KvBook& book, int64_t q_begin,
                                 float* mass) {
  const int64_t n = c_.n_head_kv * book.capacity(step.layer);
  cuda::check(cudaMemsetAsync(mass_.get(), 0, size_t(n) * sizeof(float), 0), "clear mass");
  cuda::attention_mass(args(step), q_begin, mass_.get());
  host_mass_.resize(size_t(n));
  mass_.download(host_mass_.data(), size_t(n));
  for (int64_t i = 0; i < n; ++i) mass[i] += host_mass_[size_t(i)];
}

void CudaBackend::replay(int64_t il, const std::vector<KvMove>& moves,
                         const KeyRotation* rotation) {
  if (moves.empty()) return;
  if (host_rows_.stores(il)) replay_host(host_rows_, il, moves, rotation, c_);
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
  cuda::kv_move(layout_.type, L.k.get(), L.v.get(), L.key_pos.get(), layout_.capacity[size_t(il)],
                c_.head_dim, c_.value_dim, moves_dev, int64_t(moves.size()), cos, sin, c_.n_rot,
                c_.rope_type == RopeType::Neox, rotation ? rotation->shift : 0, move_ws_);
}

void CudaBackend::output(Act in, int64_t first, int64_t n, float* out) {
  const int64_t rows = n - first;
  logits_.resize(size_t(rows * c_.n_vocab));
  cuda::matmul(device(model_.output), buf(in) + first * c_.n_embd, rows, logits_.get(), matmul_ws_);
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

BackendKind cuda_backend_kind() {
  BackendKind k;
  k.name = "cuda";
  k.ranks = {RankMethod::BlockBounds};
  k.usable = [](std::string* why) { return cuda::device_available(why); };
  k.load = [](const Model& model) -> std::shared_ptr<const DeviceModel> {
    std::string why;
    if (!cuda::device_available(&why)) throw Error("--device cuda: " + why);
    return std::make_shared<CudaModel>(model);
  };
  return k;
}

}  // namespace longctx
