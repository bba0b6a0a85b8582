#include "engine/device_forward.h"

#include "support/error.h"

namespace longctx {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  throw Error("--device " + name + ": expected cpu or cuda");
}

#ifndef LONGCTX_HAVE_CUDA
// A build without nvcc: the CUDA entry points say so.
bool cuda_usable(std::string* why) {
  if (why) *why = "this longctx was built without the CUDA backend (no nvcc at build time)";
  return false;
}

std::unique_ptr<DeviceForward> make_cuda_forward(const Model&, int64_t, int64_t, KvType) {
  std::string why;
  cuda_usable(&why);
  throw Error("--device cuda: " + why);
}
#endif

}  // namespace longctx
