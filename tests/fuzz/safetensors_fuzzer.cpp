// libFuzzer entry point for the safetensors reader (built by scripts/fuzz with clang).
#include "models/safetensors.h"
#include "support/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f =
        longctx::safetensors::File::from_bytes("fuzz", std::vector<uint8_t>(data, data + size));
    volatile uint64_t touched = 0;
    for (const auto& t : f.tensors()) {
      for (uint64_t i = 0; i < t.end - t.begin; ++i) touched = touched + t.data[i];
    }
  } catch (const longctx::Error&) {
  }
  return 0;
}
