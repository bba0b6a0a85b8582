// How the CUDA sources launch kernels and declare dynamic shared memory, so that the same sources
// also compile as C++ for the CPU execution of the CUDA code (tests/cuda_cpu), where a launch
// queues the grid on the emulated stream. Under nvcc these are exactly the CUDA syntax.
//   LC_LAUNCH(grid, block, shared_bytes, kernel<T...>)(args...);
//   LC_DYNAMIC_SHARED(float, smem);
#pragma once

#include <cuda_runtime.h>

#if defined(__CUDACC__)
#define LC_LAUNCH(grid, block, shared, ...) __VA_ARGS__<<<(grid), (block), (shared)>>>
#define LC_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#else
#define LC_LAUNCH(grid, block, shared, ...) \
  ::cuda_cpu::launch((grid), (block), (shared), #__VA_ARGS__, &__VA_ARGS__)
#define LC_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::cuda_cpu::dynamic_shared())
#endif
