// CUDA kernels against the CPU reference on the same inputs. Exits 77 (CTest: skipped) when no
// CUDA device is present, as on CI machines.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/cuda/dequant.h"
#include "models/gguf.h"
#include "models/quant.h"
#include "tests/fixtures.h"

using namespace longctx;

namespace {

int failures = 0;

void compare(const std::string& what, kernels::BlockType type, const uint8_t* src, size_t bytes,
             int64_t rows, int64_t row_elems) {
  std::vector<float> cpu(size_t(rows * row_elems)), gpu(cpu.size());
  int64_t row_bytes = int64_t(bytes) / rows;
  for (int64_t r = 0; r < rows; ++r) {
    quant::dequantize_row(type, src + r * row_bytes, cpu.data() + r * row_elems, row_elems);
  }
  cuda::dequantize_rows_host(type, src, bytes, gpu.data(), rows, row_elems);
  size_t diff = 0;
  for (size_t i = 0; i < cpu.size(); ++i) diff += std::memcmp(&cpu[i], &gpu[i], 4) != 0;
  std::printf("%-8s %-40s %zu values, %zu differ\n", diff ? "FAIL" : "ok", what.c_str(), cpu.size(),
              diff);
  failures += diff != 0;
}

}  // namespace

int main() {
  std::string why;
  if (!cuda::device_available(&why)) {
    std::printf("skipping CUDA tests: %s\n", why.c_str());
    return 77;
  }
  for (const quant::TypeInfo& t : quant::all_types()) {
    if (!t.decodable) continue;
    auto blocks = test::read_fixture("quant/" + std::string(t.name) + ".blocks");
    int64_t n_blocks = int64_t(blocks.size()) / t.block_bytes;
    compare("fixture " + std::string(t.name), kernels::BlockType(t.id), blocks.data(),
            blocks.size(), 1, n_blocks * t.block_elems);
  }
  for (const char* model : {test::kSmolLM2, test::kGemma3}) {
    std::string path = test::model_path(model);
    if (!std::filesystem::exists(path)) {
      std::printf("FAIL     %s missing (run scripts/setup)\n", path.c_str());
      ++failures;
      continue;
    }
    auto f = gguf::File::open(path);
    std::vector<std::string> seen;
    for (const auto& t : f.tensors()) {
      std::string type(t.type.name);
      if (std::find(seen.begin(), seen.end(), type) != seen.end()) continue;
      seen.push_back(type);
      compare(std::string(model).substr(0, 12) + " " + t.name, kernels::BlockType(t.type.id),
              t.data, size_t(t.n_bytes), t.rows(), t.row_elems());
    }
  }
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
