// The plots an evaluation writes: mean score and decode speed against context length per mode,
// and a needle grid's depth x length heat map per mode. SVG, self-contained.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace longctx::eval {

// SVG: mean score and decode tokens/s against context length, one line per mode.
std::string plot_scores_svg(const nlohmann::json& scores, const std::string& title);
// SVG heat map per mode of a needle grid (depth x length), for `eval niah`; empty without niah
// rows.
std::string plot_niah_svg(const std::vector<nlohmann::json>& predictions, const std::string& title);

}  // namespace longctx::eval
