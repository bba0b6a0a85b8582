// The CUDA backend of a build without nvcc: --device cuda says so. A binary links exactly one
// definition of cuda_backend_kind(): this one, engine/cuda_backend.cpp over the device kernels,
// or the same file over the CPU execution of the CUDA code (tests/cuda_cpu).
#include "engine/backend.h"
#include "support/error.h"

namespace longctx {

BackendKind cuda_backend_kind() {
  BackendKind k;
  k.name = "cuda";
  k.ranks = {RankMethod::BlockBounds};
  k.usable = [](std::string* why) {
    if (why) *why = "this longctx was built without the CUDA backend (no nvcc at build time)";
    return false;
  };
  k.load = [](const Model&) -> std::shared_ptr<const DeviceModel> {
    throw Error(
        "--device cuda: this longctx was built without the CUDA backend (no nvcc at "
        "build time)");
  };
  return k;
}

}  // namespace longctx
