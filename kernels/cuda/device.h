// Device memory and error handling of the CUDA backend, usable from host C++ (no kernels here).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace longctx::cuda {

// Throws longctx::Error "CUDA <what>: <reason>" on a failed call.
void check(cudaError_t err, const char* what);
// After a launch: the launch error, if any.
void check_launch(const char* kernel);

// Device memory of n elements of T, freed with the object; move-only.
template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t n) { resize(n); }
  ~Buffer() { release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  // Reallocates (contents lost) when n exceeds the size.
  void resize(size_t n) {
    if (n <= n_) return;
    release();
    void* p = nullptr;
    check(cudaMalloc(&p, n * sizeof(T)), "cudaMalloc");
    p_ = static_cast<T*>(p);
    n_ = n;
  }
  void upload(const T* src, size_t n) {
    resize(n);
    check(cudaMemcpy(p_, src, n * sizeof(T), cudaMemcpyHostToDevice), "copy to device");
  }
  void download(T* dst, size_t n) const {
    check(cudaMemcpy(dst, p_, n * sizeof(T), cudaMemcpyDeviceToHost), "copy to host");
  }
  void zero() {
    if (n_) check(cudaMemset(p_, 0, n_ * sizeof(T)), "cudaMemset");
  }
  T* get() const { return p_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

 private:
  void release() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace longctx::cuda
