// The CUDA execution model on the CPU, for the project's CUDA sources compiled as C++ (CI has no
// GPU): every thread of a block is its own fiber with its own stack, __syncthreads() is a barrier
// over the block, warp shuffles exchange values among the lanes of a warp at a warp barrier,
// __shared__ memory is per block, and the blocks of a grid run in a shuffled order on a few worker
// threads. Kernel launches, copies and library calls are queued on the stream and run when the
// host synchronises, as on a device. docs/cuda.md says what this proves and what it cannot.
//
// Kernel code sees only what CUDA gives it: threadIdx, blockIdx, blockDim, gridDim,
// __syncthreads, __shfl_sync, __shfl_xor_sync, __syncwarp and the math functions of <cmath>.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Per block: a block runs on one worker thread from its first thread to its last, so a
// thread-local variable is the block's (and is reused, unwritten, by the next block there).
#define __shared__ static thread_local

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

namespace cuda_cpu {

// What one CUDA thread reads about itself; set before its fiber first runs.
struct ThreadIndex {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
// The thread running on this worker (fibers of one block share a worker).
extern thread_local const ThreadIndex* t_current;

// A barrier over the calling thread's block. `file`/`line` name the call site: threads of a block
// waiting at different __syncthreads() calls are an error (undefined on a device), reported.
void sync_block(const char* file, int line);
// Lanes of `mask` in the caller's warp meet; each puts `value` (up to 8 bytes) and gets lane
// `src`'s. Returns false (and reports) when the exchange is undefined on a device.
void exchange(unsigned mask, const void* value, size_t size, int src, void* out, const char* file,
              int line);
int lane_id();
// The block's dynamic shared memory (the launch's third argument), filled with 0xff bytes (NaN as
// floats) at the start of each block so that a read before a write shows.
void* dynamic_shared();

// One kernel thread's body, called once per thread of every block.
using ThreadBody = std::function<void()>;
// Queues a grid on the stream (runs at the next synchronisation). Returns a launch error (an
// invalid configuration) as cudaError_t would, or 0.
int enqueue_grid(const char* name, const void* kernel, dim3 grid, dim3 block, size_t shared,
                 ThreadBody body);

template <typename... P>
struct Launch {
  dim3 grid, block;
  size_t shared;
  const char* name;
  void (*kernel)(P...);
  template <typename... A>
  void operator()(A&&... args) const {
    // Arguments are copied at the launch, converted to the parameters' types, as CUDA does.
    std::tuple<std::decay_t<P>...> copied(std::forward<A>(args)...);
    auto k = kernel;
    enqueue_grid(name, reinterpret_cast<const void*>(k), grid, block, shared,
                 [k, copied]() { std::apply(k, copied); });
  }
};

template <typename... P>
Launch<P...> launch(dim3 grid, dim3 block, size_t shared, const char* name, void (*kernel)(P...)) {
  return Launch<P...>{grid, block, shared, name, kernel};
}

template <typename T>
T shuffle(unsigned mask, T value, int src, const char* file, int line) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>);
  T out{};
  exchange(mask, &value, sizeof(T), src, &out, file, line);
  return out;
}

}  // namespace cuda_cpu

#define threadIdx (::cuda_cpu::t_current->thread_idx)
#define blockIdx (::cuda_cpu::t_current->block_idx)
#define blockDim (::cuda_cpu::t_current->block_dim)
#define gridDim (::cuda_cpu::t_current->grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::cuda_cpu::sync_block(file, line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  int unused = 0;
  ::cuda_cpu::exchange(mask, &unused, sizeof(int), ::cuda_cpu::lane_id(), &unused, file, line);
}
template <typename T>
T __shfl_sync(unsigned mask, T value, int src_lane, int width = warpSize,
              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  const int lane = ::cuda_cpu::lane_id();
  const int src = (lane & ~(width - 1)) + (src_lane & (width - 1));
  return ::cuda_cpu::shuffle(mask, value, src, file, line);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize,
                  const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  const int lane = ::cuda_cpu::lane_id();
  int src = lane ^ lane_mask;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;  // outside the segment: own value
  return ::cuda_cpu::shuffle(mask, value, src, file, line);
}

// Device math the kernels use that C++ spells otherwise.
inline int64_t max(int64_t a, int64_t b) {
  return a > b ? a : b;
}
inline int64_t min(int64_t a, int64_t b) {
  return a < b ? a : b;
}
inline int max(int a, int b) {
  return a > b ? a : b;
}
inline int min(int a, int b) {
  return a < b ? a : b;
}
using std::isinf;
using std::isnan;
using std::sqrt;
