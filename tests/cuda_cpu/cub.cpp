#include "tests/cuda_cpu/cub.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace cuda_cpu {

void stable_order(const uint64_t* keys, int begin, int end, bool descending, int* order) {
  std::iota(order + begin, order + end, begin);
  if (descending) {
    std::stable_sort(order + begin, order + end, [&](int a, int b) { return keys[a] > keys[b]; });
  } else {
    std::stable_sort(order + begin, order + end, [&](int a, int b) { return keys[a] < keys[b]; });
  }
}

cudaError_t check_temp(void* temp, size_t have, size_t need) {
  if (have >= need) return cudaSuccess;
  std::fprintf(stderr, "cuda_cpu: a CUB sort given %zu bytes of temporary storage, %zu needed\n",
               have, need);
  return cudaErrorInvalidValue;
}

}  // namespace cuda_cpu
