// libFuzzer entry point for the GGUF reader (built by scripts/fuzz with clang).
#include "tests/fuzz/exercise_gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  longctx::fuzz::exercise_gguf(data, size);
  return 0;
}
