// The CUDA runtime on the host (runtime.h). One device, one stream (the legacy default one, which
// every host thread shares): its work is queued and runs in order when the host synchronises
// (cudaDeviceSynchronize, a synchronous copy, cudaFree, an event waited on), so host code that
// reads a result before synchronising, or rewrites a buffer an asynchronous copy has not read
// yet, sees what it would see on a device. Errors follow CUDA's kinds: a bad launch configuration
// is returned at the launch (cudaGetLastError), a failure while running is sticky and returned by
// every later call that synchronises.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tests/cuda_cpu/exec_grid.h"
#include "tests/cuda_cpu/runtime.h"

struct CUevent_st {
  bool recorded = false, done = false;
  std::chrono::steady_clock::time_point when;
};

namespace cuda_cpu {
namespace {

// H100 SXM's limits, which the launches are checked against.
constexpr size_t kSharedDefault = 48 << 10;
constexpr size_t kSharedOptin = 227 << 10;

struct Device {
  std::recursive_mutex m;  // the stream and everything below
  std::deque<std::function<void()>> queue;
  cudaError_t sticky = cudaSuccess;
  std::map<const char*, size_t, std::less<>> allocations;  // device memory: start -> bytes
  std::unordered_map<const void*, int> max_dynamic_shared;
  uint64_t launches = 0;
};

Device& device() {
  static Device d;
  return d;
}

thread_local cudaError_t t_last_error = cudaSuccess;

cudaError_t note(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
  return e;
}

// Runs everything queued; returns the sticky error.
cudaError_t drain() {
  Device& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);
  while (!d.queue.empty()) {
    std::function<void()> work = std::move(d.queue.front());
    d.queue.pop_front();
    if (d.sticky == cudaSuccess) work();
  }
  return note(d.sticky);
}

void fail(const std::string& what) {
  Device& d = device();
  std::fprintf(stderr, "cuda_cpu: %s\n", what.c_str());
  if (d.sticky == cudaSuccess) d.sticky = cudaErrorLaunchFailure;
}

bool in_device_memory(const void* p, size_t bytes) {
  const void* end = device_allocation_end(p);
  return end && static_cast<const char*>(p) + bytes <= static_cast<const char*>(end);
}

}  // namespace

const void* device_allocation_end(const void* p) {
  Device& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);
  const char* c = static_cast<const char*>(p);
  auto it = d.allocations.upper_bound(c);
  if (it == d.allocations.begin()) return nullptr;
  --it;
  if (c >= it->first + it->second) return nullptr;
  return it->first + it->second;
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> work) {
  if (stream != nullptr) return note(cudaErrorInvalidResourceHandle);  // only the default one
  Device& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);
  if (d.sticky != cudaSuccess) return note(d.sticky);
  d.queue.push_back(std::move(work));
  return cudaSuccess;
}

cudaError_t set_function_attribute(const void* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return note(cudaErrorInvalidValue);
  if (value < 0 || size_t(value) > kSharedOptin) return note(cudaErrorInvalidValue);
  Device& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);
  d.max_dynamic_shared[kernel] = value;
  return cudaSuccess;
}

int enqueue_grid(const char* name, const void* kernel, dim3 grid, dim3 block, size_t shared,
                 ThreadBody body) {
  Device& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > 1024 ||
      block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x > 0x7fffffffu || grid.y > 65535 ||
      grid.z > 65535) {
    std::fprintf(stderr, "cuda_cpu: launch of %s with grid (%u,%u,%u) block (%u,%u,%u)\n", name,
                 grid.x, grid.y, grid.z, block.x, block.y, block.z);
    return note(cudaErrorInvalidConfiguration);
  }
  size_t allowed = kSharedDefault;
  if (auto it = d.max_dynamic_shared.find(kernel); it != d.max_dynamic_shared.end())
    allowed = std::max(allowed, size_t(it->second));
  if (shared > allowed) {
    std::fprintf(stderr, "cuda_cpu: %s asks %zu bytes of dynamic shared memory, %zu allowed\n",
                 name, shared, allowed);
    return note(cudaErrorInvalidValue);
  }
  const uint64_t seed = launch_seed(d.launches++);
  if (d.sticky != cudaSuccess) return note(d.sticky);
  d.queue.push_back([name, grid, block, shared, seed, body = std::move(body)] {
    GridRun g;
    g.grid = grid;
    g.block = block;
    g.shared = shared;
    g.body = &body;
    g.seed = seed;
    const std::string error = run_grid(g);
    if (!error.empty()) fail(std::string("kernel ") + name + ", " + error);
  });
  return cudaSuccess;
}

}  // namespace cuda_cpu

using cuda_cpu::device;
using cuda_cpu::drain;
using cuda_cpu::note;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* dev) {
  *dev = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) {
  return dev == 0 ? cudaSuccess : note(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int dev) {
  if (dev != 0) return note(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "the CPU, executing the CUDA code (tests/cuda_cpu)");
  prop->totalGlobalMem = size_t(80) << 30;
  prop->sharedMemPerBlock = cuda_cpu::kSharedDefault;
  prop->sharedMemPerBlockOptin = cuda_cpu::kSharedOptin;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = 132;
  prop->major = 9;
  prop->minor = 0;
  return cudaSuccess;
}

const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
    case cudaErrorIllegalAddress:
      return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources:
      return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure (the CPU execution printed why on stderr)";
    default:
      return cudaGetErrorName(err);
  }
}

cudaError_t cudaGetLastError() {
  auto& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);  // sticky is written by whoever drains
  const cudaError_t e = cuda_cpu::t_last_error;
  cuda_cpu::t_last_error = d.sticky;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  return cuda_cpu::t_last_error;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  *ptr = nullptr;
  auto& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);
  if (d.sticky != cudaSuccess) return note(d.sticky);
  if (bytes == 0) return cudaSuccess;
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p) return note(cudaErrorMemoryAllocation);
  d.allocations[static_cast<const char*>(p)] = bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  const cudaError_t e = drain();  // cudaFree waits for the device
  auto& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);
  auto it = d.allocations.find(static_cast<const char*>(ptr));
  if (it == d.allocations.end()) return note(cudaErrorInvalidValue);
  d.allocations.erase(it);
  std::free(ptr);
  return e;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  *ptr = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
  return *ptr ? cudaSuccess : note(cudaErrorMemoryAllocation);
}

cudaError_t cudaFreeHost(void* ptr) {
  const cudaError_t e = drain();
  std::free(ptr);
  return e;
}

namespace {

cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost) return cudaSuccess;
  if ((dst_dev && !cuda_cpu::in_device_memory(dst, bytes)) ||
      (src_dev && !cuda_cpu::in_device_memory(src, bytes))) {
    std::fprintf(stderr, "cuda_cpu: a copy of %zu bytes outside device memory (kind %d)\n", bytes,
                 int(kind));
    return note(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (cudaError_t e = check_copy(dst, src, bytes, kind); e != cudaSuccess) return e;
  return cuda_cpu::enqueue(stream, [=] { std::memcpy(dst, src, bytes); });
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, nullptr); e != cudaSuccess) return e;
  return drain();
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (!cuda_cpu::in_device_memory(dst, bytes)) return note(cudaErrorInvalidValue);
  return cuda_cpu::enqueue(stream, [=] { std::memset(dst, value, bytes); });
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  return cudaMemsetAsync(dst, value, bytes, nullptr);
}

cudaError_t cudaDeviceSynchronize() {
  return drain();
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (stream != nullptr) return note(cudaErrorInvalidResourceHandle);
  return drain();
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return note(cudaErrorInvalidResourceHandle);
  auto& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);  // the queue's thread writes these too
  event->recorded = true;
  event->done = false;
  return cuda_cpu::enqueue(stream, [event] {
    event->when = std::chrono::steady_clock::now();
    event->done = true;
  });
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return note(cudaErrorInvalidResourceHandle);
  return drain();
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start || !end) return note(cudaErrorInvalidResourceHandle);
  auto& d = device();
  std::lock_guard<std::recursive_mutex> lock(d.m);
  if (!start->recorded || !end->recorded) return note(cudaErrorInvalidResourceHandle);
  if (!start->done || !end->done) return note(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}
