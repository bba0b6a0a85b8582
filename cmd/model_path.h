// Where models live: the cache that scripts/setup fills, and the default model.
#pragma once

#include <string>

namespace longctx::cmd {

// $LONGCTX_MODELS, else ~/.cache/longctx/models (the same rule as scripts/setup).
std::string model_cache_dir();

// `path` when given, else the default model in the cache; throws longctx::Error with the command
// that fetches it when it is not there.
std::string resolve_model(const std::string& path);

}  // namespace longctx::cmd
