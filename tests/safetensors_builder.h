// Writes safetensors files in memory for tests and fuzzing.
#pragma once

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace longctx::test {

struct StTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

inline std::vector<uint8_t> build_safetensors(const std::vector<StTensor>& tensors,
                                              const nlohmann::json& metadata = nullptr) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';  // the reference writer pads the header with spaces
  std::vector<uint8_t> out(8);
  uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  out.insert(out.end(), text.begin(), text.end());
  for (const auto& t : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
  return out;
}

inline std::vector<uint8_t> sample_safetensors() {
  std::vector<uint8_t> f32(4 * 6), f16(2 * 8), bf16(2 * 4);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = uint8_t(i * 7);
  for (size_t i = 0; i < f16.size(); ++i) f16[i] = uint8_t(i * 3 + 1);
  for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = uint8_t(i * 5 + 2);
  return build_safetensors({{"model.embed_tokens.weight", "F32", {2, 3}, f32},
                            {"model.norm.weight", "F16", {8}, f16},
                            {"lm_head.weight", "BF16", {2, 2}, bf16}},
                           {{"format", "pt"}});
}

}  // namespace longctx::test
