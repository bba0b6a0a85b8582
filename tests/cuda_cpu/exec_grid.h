// Between the stream (runtime.cpp) and the execution of a grid (exec.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "tests/cuda_cpu/exec.h"

namespace cuda_cpu {

struct GridRun {
  dim3 grid, block;
  size_t shared = 0;
  const ThreadBody* body = nullptr;
  uint64_t seed = 0;  // the order of blocks and of warps, reproducible per launch
};

// Runs every block; returns "" or what went wrong (a deadlock, divergent barriers, a bad shuffle,
// a kernel thread that threw), naming the block and threads.
std::string run_grid(const GridRun& g);
// The seed of the n-th launch (LONGCTX_CUDA_CPU_SEED changes them all).
uint64_t launch_seed(uint64_t launch_number);

}  // namespace cuda_cpu
