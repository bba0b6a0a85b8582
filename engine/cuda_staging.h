// Host-to-device copies of the CUDA backend's small per-layer data, without stopping the host.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cuda/device.h"

namespace longctx::cuda {

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

}  // namespace longctx::cuda
