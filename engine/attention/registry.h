// Choosing attention policies at run time: `--attn NAME[:key=value,...]` for every layer, or a
// JSON file for a per-layer mix. Names and parameters are checked: an unknown policy, an unknown
// key or a bad value is an error naming it, never a silent default.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/attention/policy.h"

namespace longctx {

struct ModelConfig;

struct PolicySpec {
  std::string name = "dense";
  std::map<std::string, std::string> params;
  std::string text() const;  // back to NAME:key=value,...
};

PolicySpec parse_policy_spec(std::string_view text);

// A comma-separated list of policies to compare, e.g. "dense,quest:budget=512,page=8,h2o": an item
// with '=' but no ':' continues the parameters of the policy before it; an item ending in .json
// names a per-layer preset file (configs/), read when its session is made.
std::vector<std::string> split_policy_list(std::string_view text);

// Where a policy is built: its layer among the model's (a per-layer budget, PyramidKV-style, is a
// function of both) and the model's configuration. A policy checked before any model is loaded (a
// --attn value) gets n_layer 0 and no config.
struct PolicyContext {
  int64_t layer = 0, n_layer = 0;
  const ModelConfig* config = nullptr;
};

// The parameters of one policy, read once each; finish() rejects the keys nobody read.
class PolicyParams {
 public:
  PolicyParams(const PolicySpec& spec, const PolicyContext& context)
      : spec_(spec), context_(context) {}
  const PolicyContext& context() const { return context_; }
  bool given(const std::string& key) const { return spec_.params.count(key) > 0; }
  int64_t integer(const std::string& key, int64_t fallback, int64_t min, int64_t max);
  double real(const std::string& key, double fallback, double min, double max);
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed);
  void finish() const;

 private:
  const std::string* lookup(const std::string& key);  // marks the key read; null when absent
  const PolicySpec& spec_;
  PolicyContext context_;
  std::vector<std::string> used_;
};

std::unique_ptr<AttentionPolicy> make_policy(const PolicySpec& spec,
                                             const PolicyContext& context = {});
std::string known_policies();

// One spec per layer, from a single --attn value or from --attn-config FILE.json:
//   {"default": "quest:budget=512", "layers": {"0": "dense", "1": "dense"}}
std::vector<PolicySpec> policies_for_all_layers(std::string_view spec, int64_t n_layer);
std::vector<PolicySpec> policies_from_config_file(const std::string& path, int64_t n_layer);

}  // namespace longctx
