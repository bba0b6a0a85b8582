// Access to the committed golden fixtures and the model cache, for tests.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace longctx::test {

inline std::string fixture_path(const std::string& relative) {
  return std::string(LONGCTX_FIXTURES_DIR) + "/" + relative;
}

inline std::vector<uint8_t> read_fixture(const std::string& relative) {
  std::ifstream in(fixture_path(relative), std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + fixture_path(relative));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// The real models fetched by scripts/setup ($LONGCTX_MODELS or ~/.cache/longctx/models).
inline std::string model_path(const std::string& file) {
  const char* dir = std::getenv("LONGCTX_MODELS");
  const char* home = std::getenv("HOME");
  std::string base =
      (dir && *dir) ? dir : std::string(home ? home : ".") + "/.cache/longctx/models";
  return base + "/" + file;
}

inline constexpr const char* kSmolLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf";
inline constexpr const char* kGemma3 = "gemma-3-270m-q4_k_m.gguf";
inline constexpr const char* kQwen2 = "qwen2.5-coder-0.5b-instruct.gguf";

}  // namespace longctx::test
