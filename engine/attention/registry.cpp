#include "engine/attention/registry.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "support/error.h"
#include "support/text_file.h"

namespace longctx {

std::unique_ptr<AttentionPolicy> make_quest_policy(PolicyParams& params);
std::unique_ptr<AttentionPolicy> make_streaming_policy(PolicyParams& params);
std::unique_ptr<AttentionPolicy> make_h2o_policy(PolicyParams& params);
std::unique_ptr<AttentionPolicy> make_snapkv_policy(PolicyParams& params);
std::unique_ptr<AttentionPolicy> make_recycled_policy(PolicyParams& params);
std::unique_ptr<AttentionPolicy> make_dhsa_policy(PolicyParams& params);

namespace {

struct Entry {
  std::string_view name;
  std::unique_ptr<AttentionPolicy> (*make)(PolicyParams&);
};

std::unique_ptr<AttentionPolicy> make_dense(PolicyParams& params) {
  return params.choice("observe", "none", {"none", "mass"}) == "mass" ? make_mass_recording_policy()
                                                                      : make_dense_policy();
}

constexpr Entry kPolicies[] = {
    {"dense", make_dense},
    {"streaming", make_streaming_policy},
    {"recycled", make_recycled_policy},
    {"dhsa", make_dhsa_policy},
    {"quest", make_quest_policy},
    {"h2o", make_h2o_policy},
    {"snapkv", make_snapkv_policy},
};

}  // namespace

std::string PolicySpec::text() const {
  std::string out = name;
  char sep = ':';
  for (const auto& [k, v] : params) {
    out += sep + k + "=" + v;
    sep = ',';
  }
  return out;
}

PolicySpec parse_policy_spec(std::string_view text) {
  PolicySpec spec;
  size_t colon = text.find(':');
  spec.name = std::string(text.substr(0, colon));
  if (spec.name.empty()) throw Error("--attn: empty policy name (known: " + known_policies() + ")");
  if (colon == std::string_view::npos) return spec;
  std::string_view rest = text.substr(colon + 1);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      throw Error("--attn " + std::string(text) + ": '" + std::string(item) + "' is not key=value");
    }
    std::string key(item.substr(0, eq));
    if (spec.params.count(key))
      throw Error("--attn " + std::string(text) + ": '" + key + "' given twice");
    spec.params[key] = std::string(item.substr(eq + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return spec;
}

std::vector<std::string> split_policy_list(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    size_t comma = text.find(',');
    std::string item(text.substr(0, comma));
    bool continues = item.find('=') != std::string::npos && item.find(':') == std::string::npos;
    if (continues && !out.empty()) {
      out.back() += "," + item;
    } else {
      out.push_back(item);
    }
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  std::map<std::string, std::string> seen;  // a mode's normal form -> how it was written
  for (const auto& p : out) {
    if (p.empty())
      throw Error("--attn: an empty policy in the list (known: " + known_policies() + ")");
    // Each one checked now, with a clear error; a per-layer preset (FILE.json) when it is read.
    std::string normal = p;
    if (!p.ends_with(".json")) {
      make_policy(parse_policy_spec(p));
      normal = parse_policy_spec(p).text();  // parameters in one order
    }
    // The same mode twice would be evaluated (and its results stored) twice under one name.
    if (auto [it, fresh] = seen.emplace(normal, p); !fresh)
      throw Error("--attn: '" + it->second + "' and '" + p + "' are the same mode; list it once");
  }
  return out;
}

const std::string* PolicyParams::lookup(const std::string& key) {
  used_.push_back(key);
  auto it = spec_.params.find(key);
  return it == spec_.params.end() ? nullptr : &it->second;
}

int64_t PolicyParams::integer(const std::string& key, int64_t fallback, int64_t min, int64_t max) {
  const std::string* text = lookup(key);
  if (!text) return fallback;
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text->size() || v < min || v > max) {
    throw Error("--attn " + spec_.text() + ": " + key + "=" + *text + " is not an integer in [" +
                std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

double PolicyParams::real(const std::string& key, double fallback, double min, double max) {
  const std::string* text = lookup(key);
  if (!text) return fallback;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text->size() || !(v >= min && v <= max)) {
    throw Error("--attn " + spec_.text() + ": " + key + "=" + *text + " is not a number in [" +
                std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

std::string PolicyParams::choice(const std::string& key, const std::string& fallback,
                                 const std::vector<std::string>& allowed) {
  const std::string* text = lookup(key);
  if (!text) return fallback;
  if (std::find(allowed.begin(), allowed.end(), *text) != allowed.end()) return *text;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  throw Error("--attn " + spec_.text() + ": " + key + "=" + *text + " is not one of " + list);
}

void PolicyParams::finish() const {
  for (const auto& [k, v] : spec_.params) {
    if (std::find(used_.begin(), used_.end(), k) == used_.end()) {
      std::string known;
      for (const auto& u : used_) known += (known.empty() ? "" : ", ") + u;
      throw Error("--attn " + spec_.text() + ": unknown parameter '" + k + "' for " + spec_.name +
                  (known.empty() ? " (it takes none)" : " (known: " + known + ")"));
    }
  }
}

std::string known_policies() {
  std::string names;
  for (const Entry& e : kPolicies) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

std::unique_ptr<AttentionPolicy> make_policy(const PolicySpec& spec, const PolicyContext& context) {
  for (const Entry& e : kPolicies) {
    if (e.name == spec.name) {
      PolicyParams params(spec, context);
      auto policy = e.make(params);
      params.finish();
      return policy;
    }
  }
  throw Error("unknown attention policy '" + spec.name + "' (known: " + known_policies() + ")");
}

std::vector<PolicySpec> policies_for_all_layers(std::string_view spec, int64_t n_layer) {
  PolicySpec parsed = parse_policy_spec(spec);
  make_policy(parsed);  // validate once, with a clear error
  return std::vector<PolicySpec>(size_t(n_layer), parsed);
}

std::vector<PolicySpec> policies_from_config_file(const std::string& path, int64_t n_layer) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw Error(path + ": expected an object with \"default\" and \"layers\"");
  for (auto& [key, value] : j.items()) {
    if (key != "default" && key != "layers" && key != "description") {
      throw Error(path + ": unknown key '" + key + "' (default, layers, description)");
    }
  }
  std::string fallback = "dense";
  if (auto d = j.find("default"); d != j.end()) {
    if (!d->is_string()) throw Error(path + ": \"default\" must be a policy such as \"dense\"");
    fallback = d->get<std::string>();
  }
  std::vector<PolicySpec> specs = policies_for_all_layers(fallback, n_layer);
  if (auto layers = j.find("layers"); layers != j.end()) {
    if (!layers->is_object()) throw Error(path + ": \"layers\" must map layer numbers to policies");
    for (auto& [key, value] : layers->items()) {
      size_t used = 0;
      long long il = -1;
      try {
        il = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || il < 0 || il >= n_layer) {
        throw Error(path + ": layer '" + key + "' is not a layer of this model (0.." +
                    std::to_string(n_layer - 1) + ")");
      }
      if (!value.is_string())
        throw Error(path + ": the policy of layer " + key + " is not a string");
      specs[size_t(il)] = parse_policy_spec(value.get<std::string>());
      make_policy(specs[size_t(il)]);
    }
  }
  return specs;
}

}  // namespace longctx
