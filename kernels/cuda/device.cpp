#include "kernels/cuda/device.h"

#include "support/error.h"

namespace longctx::cuda {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw Error(std::string("CUDA ") + what + ": " + cudaGetErrorString(err));
}

void check_launch(const char* kernel) {
  check(cudaGetLastError(), kernel);
}

}  // namespace longctx::cuda
