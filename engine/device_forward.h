// The seam between a Session and a GPU: the whole forward pass of a model whose weights and KV
// cache live on the device. The Session keeps the bookkeeping (positions, room, the policies'
// names); the device object runs the layers and hands back only the logits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/kv_cache.h"
#include "models/model.h"

namespace longctx {

enum class Device { Cpu, Cuda };
Device parse_device(const std::string& name);  // "cpu", "cuda"; throws longctx::Error otherwise

class DeviceForward {
 public:
  virtual ~DeviceForward() = default;
  // Runs n tokens at positions n_past .. n_past + n - 1 (the cache holds exactly n_past tokens).
  // logits: [n][vocab] when all_logits, else the last token's [vocab]; nullptr: none wanted.
  virtual void forward(const int32_t* tokens, int64_t n, int64_t n_past, float* logits,
                       bool all_logits) = 0;
  virtual int64_t kv_bytes() const = 0;      // KV cache allocated on the device
  virtual int64_t weight_bytes() const = 0;  // weights uploaded
  virtual std::string name() const = 0;      // "CUDA (NVIDIA H200)"
};

// Whether this binary has the CUDA backend, and a device to run it; `why` says what is missing.
bool cuda_usable(std::string* why);
// Uploads the weights and allocates an n_ctx-token KV cache on the first CUDA device; throws
// longctx::Error when the build has no CUDA backend, there is no device, or it does not fit.
std::unique_ptr<DeviceForward> make_cuda_forward(const Model& model, int64_t n_ctx, int64_t n_batch,
                                                 KvType kv_type);

}  // namespace longctx
