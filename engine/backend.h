// The seam between the engine and the kernels: a Backend implements operations over one chunk's
// activations (named buffers it holds where it computes), and engine/forward.cpp writes the layer
// recipe once over them. The Session drives the attention policies in that recipe (plan -> attend
// -> observe -> evict, docs/attention.md) and keeps the KV cache's bookkeeping.
//
// The Session keeps the KV cache's bookkeeping (KvBook: positions, counts, an eviction's moves);
// every backend owns the cache's rows where it computes and carries out the book's moves on them.
// The CPU backend's rows are host rows (KvRows) for every layer; a device backend keeps its rows on
// the device, plus host rows for the layers whose policy reads keys on the host (filled from copies
// of the new rows). Either way host_rows() is what the policies read. Weights are named by their
// host views (the Model's); a device backend finds its uploaded copy.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/attention/policy.h"
#include "engine/kv_book.h"
#include "engine/kv_rows.h"
#include "kernels/common/attention_args.h"
#include "models/model.h"

namespace longctx {

// One attention step of one layer, as the policy planned it.
struct AttendStep {
  int64_t layer = 0;
  int64_t n = 0;       // the chunk's queries
  int64_t window = 0;  // the layer's own sliding window (0: none)
  const Selection* selection = nullptr;
  bool lse = false;       // keep each row's softmax normaliser for attention_mass()
  bool mass_max = false;  // attention_mass() combines a group's query heads by max, not sum
};

// Keys turned back by a re-positioning eviction: pair i by the angle (cos[i], sin[i]); positions
// drop by `shift`.
struct KeyRotation {
  const float* cos = nullptr;
  const float* sin = nullptr;
  int32_t shift = 0;
};

// A chunk's activations, n tokens each (the sizes are the model's).
enum class Act {
  X,       // [n][n_embd] the residual stream
  H,       // [n][n_embd] a normed copy, input of the products
  Q,       // [n][n_head * head_dim]
  K,       // [n][n_head_kv * head_dim]
  V,       // [n][n_head_kv * value_dim]
  Attn,    // [n][n_head * value_dim] attention's output
  O,       // [n][n_embd] a block's output, before the residual add
  Gate,    // [n][n_ff]
  Up,      // [n][n_ff]
  Router,  // [n][experts.count] the router's logits (routed experts only)
};

// Each token's routed experts, as route() chose them: ids[t * used + j] and weights likewise, the
// ids in descending order of probability (ties: the lower id first).
struct Routes {
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

// The tokens routed to each expert, for backends that run the experts one at a time: a counting
// sort of a chunk's choices (slot t * used + j is token t's j-th expert), token order kept within
// each expert. Sized once; group() allocates nothing.
struct ExpertGroups {
  std::vector<int32_t> first;  // [count + 1]: expert x's choices are slots[first[x] .. first[x+1])
  std::vector<int32_t> slots;  // [n_batch * used]
  std::vector<int32_t> at;     // scratch [count]
  void size(int64_t count, int64_t n_batch, int64_t used);
  void group(const int32_t* ids, int64_t choices);
};

// One product of a set sharing their input: out[t][r] = sum_c w[r][c] * in[t][c].
struct Product {
  const MatrixView* w;
  Act out;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "CPU (AVX-512)", "CUDA (NVIDIA H200)"

  // --- operations (engine/forward.cpp's vocabulary) -------------------------------------------
  // X = rows `tokens` of the embedding.
  virtual void embed(const int32_t* tokens, int64_t n) = 0;
  virtual void scale(Act a, float factor, int64_t count) = 0;
  // out[r] = in[r] / rms(in[r]) * weight, for `rows` rows of `width` (in == out allowed: a
  // per-head norm is rows = n * heads of width head_dim).
  virtual void rms_norm(Act in, const float* weight, float eps, int64_t rows, int64_t width,
                        Act out) = 0;
  // Every product of `products` over the same input's first n rows.
  virtual void matmul(std::span<const Product> products, Act in, int64_t n) = 0;
  // a[r] += bias, for `rows` rows of `width`.
  virtual void add_bias(Act a, const float* bias, int64_t rows, int64_t width) = 0;
  // Rotary embedding of layer il's rotation (the session's RopeTable: frequencies, and the
  // amplitude the rotated dimensions take) on n tokens of `heads` heads, token t at pos[t].
  virtual void rope(Act a, int64_t il, int64_t n, int64_t heads, const int32_t* pos) = 0;
  // Writes K and V (n tokens at pos) into the rows of layer il from `slot` on: where the book
  // appended them.
  virtual void kv_append(int64_t il, int64_t slot, int64_t n, const int32_t* pos) = 0;
  // Attn = attention of Q over the step's selection of the layer's cache (positions: the book's).
  virtual void attend(const AttendStep& step, const KvBook& book) = 0;
  // Ranks the layer's cache as `ranking` says, next to the keys, and attends over what it chose;
  // called only with a method the backend's kind lists in BackendKind::ranks.
  virtual void attend_ranked(const AttendStep& step, const DeviceRanking& ranking,
                             const KvBook& book) {
    (void)step, (void)ranking, (void)book;
  }
  // Adds to mass[g * capacity + slot] the probability of each selected key, summed (or maxed,
  // step.mass_max) over the query heads of KV head g and queries [q_begin, n) of the last
  // attend() (which kept lse).
  virtual void attention_mass(const AttendStep& step, const KvBook& book, int64_t q_begin,
                              float* mass) = 0;
  // The book moved slots of layer il (its moves, in order); the backend moves its rows the same
  // way. With `rotation`, moved keys are turned back (the book lowered their positions).
  virtual void replay(int64_t il, const std::vector<KvMove>& moves,
                      const KeyRotation* rotation) = 0;
  // The rows the host reads (every layer on the CPU; on a device, those of policies reading keys).
  virtual const KvRows& host_rows() const = 0;
  // Takes a copy of another backend's rows of the same layout (Session::adopt_prefix); throws
  // longctx::Error where the backend cannot.
  virtual void copy_rows(const Backend& from) = 0;
  // gate = act(gate) * up over `count` elements.
  virtual void gated_activation(Activation act, int64_t count) = 0;
  // Routed experts. route(): from Router's first n rows, each token's experts.used experts of
  // highest softmax probability and their weights (renormalised to sum to one when
  // experts.renormalize), kept for experts(). routes(): a host copy of them (tests; a device
  // backend synchronises). experts(): O[t] = sum over t's experts x of weight *
  // down_x(act(gate_x H[t]) * up_x H[t]), the experts' matrices those of `layer`.
  virtual void route(int64_t n) = 0;
  virtual Routes routes(int64_t n) = 0;
  virtual void experts(const LayerWeights& layer, Activation act, int64_t n) = 0;
  virtual void add(Act dst, Act src, int64_t count) = 0;  // dst += src: the residual add
  // out[t - first][vocab] = the output projection of rows [first, n) of `in`, on the host.
  virtual void output(Act in, int64_t first, int64_t n, float* out) = 0;
  // Copies between the host and an activation (a device synchronises): what policies read of the
  // queries, and what the operation tests feed and check.
  virtual void write(Act a, const float* src, int64_t count) = 0;
  virtual const float* read(Act a, int64_t count) = 0;  // valid until the next operation

  // --- timing and state ------------------------------------------------------------------------
  // Marks the start and end of a layer's attention work; the backend adds the time between the
  // marks to attention_ms() (a device measures its own timeline: no synchronisation per layer).
  virtual void mark_attention(bool begin) = 0;
  virtual double attention_ms() = 0;
  virtual void reset_attention_ms() = 0;
  // The session's cache now holds only its first n_kept tokens (0: cleared): whatever the backend
  // derived from older keys (a device's Quest page bounds) is dropped past them.
  virtual void forget(int64_t n_kept) { (void)n_kept; }
};

// The attention kernel's arguments a step and its cache determine, built once for every backend;
// the backend points q, k, v, key_pos, q_pos, spans, span_offsets, out and lse at its own memory.
kernels::AttentionArgs attention_args(const AttendStep& step, const KvLayout& layout,
                                      const ModelConfig& c);
// The same pointed at host rows, the book's positions and host buffers (the CPU backend; tests),
// with the step's selection. lse may be null.
kernels::AttentionArgs host_attention_args(const AttendStep& step, const KvBook& book,
                                           const KvRows& rows, const ModelConfig& c, const float* q,
                                           const int32_t* q_pos, float* out, float* lse);
// Carries out a book's moves on host rows, turning moved keys back by `rotation` in the model's
// rope layout (null: no turn).
void replay_host(KvRows& rows, int64_t il, const std::vector<KvMove>& moves,
                 const KeyRotation* rotation, const ModelConfig& c);

// Each layer's rotation (frequencies and the factor on the rotated dimensions), as the session
// computes them once for its context (ModelConfig::layer_rope).
using RopeTable = std::vector<LayerRope>;

// The weights of one model as one device holds them, made once and shared by every session on
// that device (host: the mapped file itself; CUDA: one upload); each session opens its own
// Backend over them, which holds what is per session (activations, the KV cache's rows).
class DeviceModel {
 public:
  virtual ~DeviceModel() = default;
  virtual std::string name() const = 0;  // "CPU (AVX-512)", "CUDA (NVIDIA H200)"
  virtual std::string kind() const = 0;  // its BackendKind's name: "cpu", "cuda"
  virtual const Model& model() const = 0;
  // Bytes of weights copied to the device (0 where the backend reads the mapped file).
  virtual int64_t uploaded_bytes() const = 0;
  // A session's backend: activations for n_batch tokens, the rows of `layout`, host rows for the
  // layers `host` names (where the device keeps its own), the session's rope table.
  virtual std::unique_ptr<Backend> open(int64_t n_batch, const KvLayout& layout,
                                        const std::vector<bool>& host,
                                        const RopeTable& rope) const = 0;
};

// A kind of backend, found by its name (--device). Nothing outside a backend's own file names it.
struct BackendKind {
  std::string name;  // "cpu", "cuda"
  // Whether its rows of every layer live on the host (the host cache is the cache: shared prefill
  // copies it); otherwise the host keeps rows only for the layers whose policies read keys.
  bool host_cache = false;
  // The ranking methods its backends run themselves, next to the keys (the host then keeps neither
  // those layers' rows nor their queries): CUDA ranks Quest's page bounds.
  std::vector<RankMethod> ranks;
  bool can_rank(RankMethod m) const {
    return m != RankMethod::None && std::find(ranks.begin(), ranks.end(), m) != ranks.end();
  }
  // Whether this build and machine can run it; `why` says what is missing.
  bool (*usable)(std::string* why) = nullptr;
  // The model's weights on this device; throws longctx::Error when unusable or out of memory.
  std::shared_ptr<const DeviceModel> (*load)(const Model& model) = nullptr;
};
// Every backend this binary knows, the CPU first (the reference the others are tested against).
const std::vector<BackendKind>& backend_kinds();
// The backend named `name`; throws longctx::Error naming the known ones otherwise.
const BackendKind& find_backend(const std::string& name);
std::vector<std::string> backend_names();

// Each backend's entry (engine/cpu_backend.cpp, engine/cuda_backend.cpp; without nvcc, a CUDA
// entry in engine/backend.cpp that says why it cannot run).
BackendKind cpu_backend_kind();
BackendKind cuda_backend_kind();

}  // namespace longctx
