// The seam between the engine and the kernels. The Session drives the layer loop and the attention
// policies (plan -> attend -> observe -> evict, DESIGN.md) and keeps the KV cache's bookkeeping; a
// Backend holds one chunk's activations and runs each piece of a layer where its memory lives.
//
// The CPU backend reads and writes the Session's KvCache. A device backend keeps the rows of the
// cache on the device and replays the host cache's edits; the host cache then holds the positions,
// and rows only for layers whose policy reads keys (filled from copies of the new rows).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/attention/policy.h"
#include "engine/kv_cache.h"
#include "models/model.h"

namespace longctx {

enum class Device { Cpu, Cuda };
Device parse_device(const std::string& name);  // "cpu", "cuda"; throws longctx::Error otherwise

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

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "CPU (AVX-512)", "CUDA (NVIDIA H200)"
  // Embeds n tokens (the chunk) into the residual stream.
  virtual void embed(const int32_t* tokens, int64_t n) = 0;
  // Layer il's attention inputs: norm, Q/K/V projections and biases, per-head norms, RoPE at `pos`
  // (positions inside the layer's cache); the keys and values are appended to `cache` (and to the
  // device's rows).
  virtual void project(int64_t il, int64_t n, const int32_t* pos, KvCache& cache) = 0;
  // The step's rotated queries on the host, [n][n_head][head_dim] (a device copies them back).
  virtual const float* host_queries(int64_t n) = 0;
  virtual void attend(const AttendStep& step, const KvCache& cache) = 0;
  // Ranks the layer's pages by their bounds against the step's query and attends over the best of
  // them (Quest's choice, PagePlan), next to the keys; only where ranks_pages(device) says so.
  virtual void attend_pages(const AttendStep& step, const PagePlan& plan, const KvCache& cache) {
    (void)step, (void)plan, (void)cache;
  }
  // Adds to mass[g * capacity + slot] the probability of each selected key, summed over the query
  // heads of KV head g and queries [q_begin, n) of the last attend() (which kept lse).
  virtual void attention_mass(const AttendStep& step, const KvCache& cache, int64_t q_begin,
                              float* mass) = 0;
  // The host cache moved slots of layer il (KvCache's log); with `rotation`, moved keys are turned
  // back and their positions lowered. A backend working on the host cache has nothing to do.
  virtual void replay(int64_t il, const std::vector<KvMove>& moves, const KeyRotation* rotation,
                      const KvCache& cache) = 0;
  // Output projection of the attention, its norm (Gemma 3) and the residual add.
  virtual void attention_output(int64_t il, int64_t n) = 0;
  virtual void ffn(int64_t il, int64_t n) = 0;
  // Final norm and output projection of tokens [first, n): out [n - first][vocab].
  virtual void logits(int64_t n, int64_t first, float* out) = 0;
  // Marks the start and end of a layer's attention work; the backend adds the time between the
  // marks to attention_ms() (a device measures its own timeline: no synchronisation per layer).
  virtual void mark_attention(bool begin) = 0;
  virtual double attention_ms() = 0;
  virtual void reset_attention_ms() = 0;
  // The session's cache now holds only its first n_kept tokens (0: cleared): whatever the backend
  // derived from older keys (a device's Quest page bounds) is dropped past them.
  virtual void forget(int64_t n_kept) { (void)n_kept; }
};

// Whether a device's backend ranks Quest's pages itself (CUDA: page bounds, scores and top-k stay
// on the device, so the host keeps neither those layers' rows nor their queries).
inline bool ranks_pages(Device device) {
  return device == Device::Cuda;
}

std::unique_ptr<Backend> make_cpu_backend(const Model& model, int64_t n_batch);

// Whether this binary has the CUDA backend and a device to run it; `why` says what is missing.
bool cuda_usable(std::string* why);
// Uploads the weights and allocates the rows of `cache`'s layout (its capacities and precision) on
// the first CUDA device; throws longctx::Error when the build has no CUDA backend, there is no
// device, the model is outside what the kernels cover, or it does not fit.
std::unique_ptr<Backend> make_cuda_backend(const Model& model, int64_t n_batch,
                                           const KvCache& cache);

}  // namespace longctx
