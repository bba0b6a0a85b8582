#include "models/config.h"

#include "models/gguf_config.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "support/error.h"

namespace longctx {

const char* rope_scaling_name(RopeScalingType t) {
  switch (t) {
    case RopeScalingType::None:
      return "none";
    case RopeScalingType::Linear:
      return "linear";
    case RopeScalingType::Llama3:
      return "llama3";
    case RopeScalingType::Yarn:
      return "yarn";
    case RopeScalingType::LongRope:
      return "longrope";
  }
  return "?";
}

namespace {

int64_t per_layer_scalar(const gguf::File& f, const std::string& key, int64_t n_layer) {
  const gguf::Value* v = f.find(key);
  if (!v) f.fail_key(key, nullptr, "is missing");
  if (v->type != gguf::ValueType::ARRAY) return f.get_int<int64_t>(key);
  auto values = f.get_int_array<int64_t>(key);
  if (int64_t(values.size()) != n_layer) {
    f.fail_key(key, v,
               "has " + std::to_string(values.size()) + " entries for " + std::to_string(n_layer) +
                   " layers");
  }
  for (int64_t x : values) {
    if (x != values[0]) f.fail_key(key, v, "differs between layers, which longctx does not run");
  }
  return values.empty() ? 0 : values[0];
}

// A soft-cap (Gemma 2): absent is none; present, a positive finite number.
float read_softcap(const gguf::File& f, const std::string& key) {
  const std::optional<double> v = f.find_float(key);
  if (!v) return 0.0f;
  if (!(*v > 0) || !std::isfinite(*v))
    f.fail_key(key, f.find(key), "must be a positive number, got " + std::to_string(*v));
  return float(*v);
}

void require_positive(const gguf::File& f, const std::string& key, int64_t value) {
  if (value <= 0) f.fail_key(key, f.find(key), "must be positive, got " + std::to_string(value));
}

// rope.scaling.* as llama.cpp writes and reads them (llama-arch.cpp, llama-model.cpp): none,
// linear, and yarn with llama.cpp's defaults. Anything else, or a yarn key longctx does not
// implement set to other than its neutral value, is refused naming the key: never run unscaled.
// Routed experts as llama.cpp's converter writes them (<arch>.expert_count, expert_used_count,
// expert_feed_forward_length). What llama.cpp's variants add (shared experts, sigmoid gating,
// grouped routing, a scale on the weights) longctx does not run: refused naming the key.
ExpertFfn read_gguf_experts(const gguf::File& f, const std::string& p, const ModelConfig& c) {
  ExpertFfn e;
  const std::string count_key = p + "expert_count", used_key = p + "expert_used_count";
  e.count = f.find_int<int64_t>(count_key).value_or(0);
  if (e.count == 0) {
    if (c.arch->experts_only) f.fail_key(count_key, f.find(count_key), "is missing or 0");
    if (f.find(used_key)) f.fail_key(used_key, f.find(used_key), "is set without experts");
    return e;
  }
  if (c.arch->expert_tensors.empty())
    f.fail_key(
        count_key, f.find(count_key),
        "gives routed experts, which longctx runs for llama (Mixtral) and qwen3moe only, not " +
            std::string(c.arch->name));
  if (e.count < 0 || e.count > kMaxExperts)
    f.fail_key(count_key, f.find(count_key),
               "must be 1 to " + std::to_string(kMaxExperts) + ", got " + std::to_string(e.count));
  e.used = f.get_int<int64_t>(used_key);
  if (e.used < 1 || e.used > std::min(e.count, kMaxExpertsUsed))
    f.fail_key(used_key, f.find(used_key),
               "must be 1 to " + std::to_string(std::min(e.count, kMaxExpertsUsed)) + ", got " +
                   std::to_string(e.used));
  const std::string ff_key = p + "expert_feed_forward_length";
  e.n_ff = f.find(ff_key) ? f.get_int<int64_t>(ff_key)
                          : (c.arch->experts_only ? c.n_ff / e.used : c.n_ff);
  require_positive(f, ff_key, e.n_ff);
  // llama.cpp's softmax gating is 1; 0 is "not set".
  if (auto gating = f.find_int<int64_t>(p + "expert_gating_func"); gating && *gating > 1)
    f.fail_key(p + "expert_gating_func", f.find(p + "expert_gating_func"),
               "is " + std::to_string(*gating) + "; longctx routes by softmax (1) only");
  for (const char* key : {"expert_shared_count", "expert_shared_feed_forward_length",
                          "expert_group_count", "expert_group_used_count"}) {
    if (f.find_int<int64_t>(p + key).value_or(0) != 0)
      f.fail_key(p + key, f.find(p + key), "is set; longctx does not implement it");
  }
  if (auto scale = f.find_float(p + "expert_weights_scale"); scale && *scale != 0 && *scale != 1)
    f.fail_key(p + "expert_weights_scale", f.find(p + "expert_weights_scale"),
               "scales the experts' weights; longctx does not implement it");
  // llama.cpp renormalises the chosen experts' weights of both architectures.
  if (f.find_bool(p + "expert_weights_norm") == false)
    f.fail_key(p + "expert_weights_norm", f.find(p + "expert_weights_norm"),
               "is false; llama.cpp renormalises " + std::string(c.arch->name) +
                   "'s experts' weights and longctx does the same");
  return e;
}

RopeScaling read_rope_scaling(const gguf::File& f, const std::string& p, int64_t n_ctx_train) {
  RopeScaling s;
  const std::string type_key = p + "rope.scaling.type";
  // llama.cpp writes "none", "linear" or "yarn" here; llama3 and LongRoPE come as tensors.
  std::string type_name = "none";
  if (auto type = f.find_string(type_key)) type_name = std::string(*type);
  const std::string factor_key =
      f.find(p + "rope.scaling.factor") ? p + "rope.scaling.factor" : p + "rope.scale_linear";
  // 0 (or absent) is llama.cpp's "no scaling"; anything else must be a usable factor.
  const double factor = f.find_float(factor_key).value_or(0.0);
  if (factor != 0 && (!(factor > 0) || !std::isfinite(factor)))
    f.fail_key(factor_key, f.find(factor_key),
               "must be a positive number, got " + std::to_string(factor));
  if (type_name == "linear" || (factor > 0 && type_name == "none"))
    s.type = RopeScalingType::Linear;
  if (type_name == "yarn") s.type = RopeScalingType::Yarn;
  s.factor = factor > 0 ? factor : 1.0;
  s.original_context =
      f.find_int<int64_t>(p + "rope.scaling.original_context_length").value_or(n_ctx_train);
  if (type_name != "none" && type_name != "linear" && type_name != "yarn") {
    f.fail_key(type_key, f.find(type_key),
               "is '" + type_name + "', a rope scaling longctx does not implement (none, linear, " +
                   "yarn; llama3 comes as a rope_freqs tensor)");
  }
  if (s.type != RopeScalingType::Yarn) {
    // LongRoPE's factors come as tensors (the loader turns the type to longrope); its attention
    // factor is this key. Any other type with a factor other than 1 is refused by the loader.
    s.attention_factor = f.find_float(p + "rope.scaling.attn_factor").value_or(1.0);
    return s;
  }
  if (!f.find(p + "rope.scaling.original_context_length")) {
    f.fail_key(p + "rope.scaling.original_context_length", nullptr, "is missing (yarn needs it)");
  }
  s.beta_fast = f.find_float(p + "rope.scaling.yarn_beta_fast").value_or(32.0);
  s.beta_slow = f.find_float(p + "rope.scaling.yarn_beta_slow").value_or(1.0);
  s.attention_factor = s.factor > 1 ? 0.1 * std::log(s.factor) + 1.0 : 1.0;
  // Keys that would change yarn away from what is implemented, with the value that does not.
  const std::pair<const char*, double> neutral[] = {{"rope.scaling.yarn_ext_factor", 1.0},
                                                    {"rope.scaling.yarn_attn_factor", 1.0},
                                                    {"rope.scaling.yarn_log_multiplier", 0.0},
                                                    {"rope.scaling.attn_factor", 1.0}};
  for (const auto& [key, value] : neutral) {
    const auto v = f.find_float(p + key);
    if (v && *v != value && !(std::string(key) == "rope.scaling.yarn_ext_factor" && *v < 0)) {
      f.fail_key(p + key, f.find(p + key),
                 "is " + std::to_string(*v) + "; longctx implements yarn only with " +
                     std::to_string(value));
    }
  }
  return s;
}

// The GGUF key that holds a validated field.
std::string gguf_key(ConfigField field, const std::string& p, const gguf::File& f) {
  switch (field) {
    case ConfigField::ContextLength:
      return p + "context_length";
    case ConfigField::RmsEps:
      return p + "attention.layer_norm_rms_epsilon";
    case ConfigField::RopeBase:
      return p + "rope.freq_base";
    case ConfigField::RopeBaseLocal:
      return p + "rope.freq_base_swa";
    case ConfigField::AttentionScale:
      return p + "attention.scale";
    case ConfigField::SlidingWindow:
      return p + "attention.sliding_window";
    case ConfigField::ScalingFactor:
    case ConfigField::LocalScalingFactor:
      return f.find(p + "rope.scaling.factor") ? p + "rope.scaling.factor"
                                               : p + "rope.scale_linear";
    case ConfigField::ScalingOriginalContext:
    case ConfigField::LocalScalingOriginalContext:
      return p + "rope.scaling.original_context_length";
    case ConfigField::ScalingAttentionFactor:
    case ConfigField::LocalScalingAttentionFactor:
      return p + "rope.scaling.attn_factor";
  }
  return p;
}

}  // namespace

const RopeScaling& ModelConfig::layer_scaling(int64_t layer) const {
  const bool own = layer_is_local[size_t(layer)] && arch && arch->local_rope == LocalRope::Own;
  return own ? rope_scaling_local : rope_scaling;
}

LayerRope ModelConfig::layer_rope(int64_t layer, int64_t n_ctx) const {
  if (!rotates(layer)) {  // NoPE: nor any scaling's attention factor (transformers skips the rope)
    LayerRope none;
    none.inv_freq.assign(size_t(n_rot / 2), 0.0f);
    return none;
  }
  const double base = layer_is_local[size_t(layer)] ? rope_base_local : rope_base;
  const RopeScaling& s = layer_scaling(layer);
  const int64_t half = n_rot / 2;
  std::vector<double> f(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    f[size_t(i)] = std::pow(base, -2.0 * double(i) / double(n_rot));
  const double factor = s.factor, orig = double(s.original_context);
  if (s.type == RopeScalingType::Linear) {
    for (double& x : f) x /= factor;
  } else if (s.type == RopeScalingType::Llama3 && !s.freq_factors.empty()) {
    for (int64_t i = 0; i < half; ++i) f[size_t(i)] /= double(s.freq_factors[size_t(i)]);
  } else if (s.type == RopeScalingType::Llama3) {
    const double low_wavelen = orig / s.low_freq_factor, high_wavelen = orig / s.high_freq_factor;
    for (double& x : f) {
      const double wavelen = 2.0 * M_PI / x;
      if (wavelen > low_wavelen) {
        x /= factor;
      } else if (wavelen >= high_wavelen) {  // between: blend the scaled and the kept frequency
        const double smooth =
            (orig / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        x = (1.0 - smooth) * x / factor + smooth * x;
      }
    }
  } else if (s.type == RopeScalingType::LongRope) {
    const std::vector<float>& by = n_ctx > s.original_context ? s.long_factors : s.short_factors;
    for (int64_t i = 0; i < half; ++i) f[size_t(i)] /= double(by[size_t(i)]);
  } else if (s.type == RopeScalingType::Yarn) {
    // The dimension that turns `rotations` times over the original context.
    auto dim_of = [&](double rotations) {
      return double(n_rot) * std::log(orig / (rotations * 2.0 * M_PI)) / (2.0 * std::log(base));
    };
    const double low = std::max(0.0, std::floor(dim_of(s.beta_fast)));
    double high = std::min(double(n_rot - 1), std::ceil(dim_of(s.beta_slow)));
    if (high == low) high += 0.001;  // as both references: no division by zero
    for (int64_t i = 0; i < half; ++i) {
      const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
      const double keep = 1.0 - ramp;  // the share of the original frequency
      f[size_t(i)] = f[size_t(i)] / factor * (1.0 - keep) + f[size_t(i)] * keep;
    }
  }
  LayerRope r;
  r.inv_freq.assign(f.begin(), f.end());
  const bool amplified = s.type == RopeScalingType::Yarn || s.type == RopeScalingType::LongRope;
  r.amplitude = amplified ? float(s.attention_factor) : 1.0f;
  return r;
}

namespace {

// Bounds wide enough for every published model, narrow enough that a corrupt value cannot pass.
constexpr double kMaxRopeBase = 1e15;
constexpr double kMaxScalingFactor = 1e6;

std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::optional<ConfigProblem> scaling_problem(const RopeScaling& s, ConfigField factor,
                                             ConfigField original, ConfigField attention) {
  if (s.type == RopeScalingType::None) return std::nullopt;
  if (!(s.factor > 0) || !(s.factor <= kMaxScalingFactor))
    return ConfigProblem{factor,
                         "must be a positive number up to 1e6, got " + number_text(s.factor)};
  if (s.original_context <= 0)
    return ConfigProblem{original,
                         "must be a positive length, got " + std::to_string(s.original_context)};
  if (!(s.attention_factor > 0) || !std::isfinite(s.attention_factor))
    return ConfigProblem{attention,
                         "must be a positive number, got " + number_text(s.attention_factor)};
  return std::nullopt;
}

}  // namespace

std::optional<ConfigProblem> find_config_problem(const ModelConfig& c) {
  using F = ConfigField;
  if (c.n_ctx_train <= 0)
    return ConfigProblem{F::ContextLength,
                         "must be positive, got " + std::to_string(c.n_ctx_train)};
  if (!(c.rms_eps > 0) || !(c.rms_eps < 1))
    return ConfigProblem{F::RmsEps, "must be a number in (0, 1), got " + number_text(c.rms_eps)};
  if (!(c.rope_base > 1) || !(c.rope_base <= kMaxRopeBase))
    return ConfigProblem{
        F::RopeBase, "must be a number above 1 and up to 1e15, got " + number_text(c.rope_base)};
  const bool any_local = c.n_local_layers() > 0;
  if (any_local && (!(c.rope_base_local > 1) || !(c.rope_base_local <= kMaxRopeBase)))
    return ConfigProblem{F::RopeBaseLocal, "must be a number above 1 and up to 1e15, got " +
                                               number_text(c.rope_base_local)};
  if (!(c.attention_scale > 0) || !std::isfinite(c.attention_scale))
    return ConfigProblem{F::AttentionScale,
                         "must be a positive number, got " + number_text(c.attention_scale)};
  if (any_local && c.sliding_window <= 0)
    return ConfigProblem{F::SlidingWindow,
                         "must be a positive width, got " + std::to_string(c.sliding_window)};
  if (auto p = scaling_problem(c.rope_scaling, F::ScalingFactor, F::ScalingOriginalContext,
                               F::ScalingAttentionFactor))
    return p;
  if (any_local && c.arch && c.arch->local_rope == LocalRope::Own)
    return scaling_problem(c.rope_scaling_local, F::LocalScalingFactor,
                           F::LocalScalingOriginalContext, F::LocalScalingAttentionFactor);
  return std::nullopt;
}

int64_t ModelConfig::n_local_layers() const {
  int64_t n = 0;
  for (bool local : layer_is_local) n += local;
  return n;
}

ModelConfig read_config(const gguf::File& f) {
  ModelConfig c;
  std::string arch(f.get_string("general.architecture"));
  c.arch = find_arch(arch);
  if (!c.arch) {
    throw Error(f.source() + ": unknown architecture '" + arch +
                "' (longctx runs: " + supported_arch_names() + ")");
  }
  c.name = std::string(f.find_string("general.name").value_or(""));
  c.rope_type = c.arch->gguf_rope;
  const std::string p = arch + ".";
  c.n_ctx_train = f.get_int<int64_t>(p + "context_length");
  c.n_embd = f.get_int<int64_t>(p + "embedding_length");
  c.n_layer = f.get_int<int64_t>(p + "block_count");
  require_positive(f, p + "context_length", c.n_ctx_train);
  require_positive(f, p + "embedding_length", c.n_embd);
  require_positive(f, p + "block_count", c.n_layer);
  // Every layer has several tensors: a count beyond the table is corrupt, and must be refused
  // before per-layer arrays are sized by it.
  if (uint64_t(c.n_layer) > f.tensors().size()) {
    f.fail_key(p + "block_count", f.find(p + "block_count"),
               "is " + std::to_string(c.n_layer) + " but the file holds only " +
                   std::to_string(f.tensors().size()) + " tensors");
  }
  c.n_ff = per_layer_scalar(f, p + "feed_forward_length", c.n_layer);
  c.experts = read_gguf_experts(f, p, c);
  c.n_head = per_layer_scalar(f, p + "attention.head_count", c.n_layer);
  require_positive(f, p + "attention.head_count", c.n_head);
  c.n_head_kv = f.find(p + "attention.head_count_kv")
                    ? per_layer_scalar(f, p + "attention.head_count_kv", c.n_layer)
                    : c.n_head;
  require_positive(f, p + "attention.head_count_kv", c.n_head_kv);
  if (c.n_head % c.n_head_kv != 0) {
    f.fail_key(p + "attention.head_count_kv", f.find(p + "attention.head_count_kv"),
               std::to_string(c.n_head_kv) + " KV heads do not divide " + std::to_string(c.n_head) +
                   " query heads");
  }
  c.head_dim = f.find_int<int64_t>(p + "attention.key_length").value_or(c.n_embd / c.n_head);
  c.value_dim = f.find_int<int64_t>(p + "attention.value_length").value_or(c.head_dim);
  require_positive(f, p + "attention.key_length", c.head_dim);
  c.n_rot = f.find_int<int64_t>(p + "rope.dimension_count").value_or(c.head_dim);
  if (c.n_rot <= 0 || c.n_rot > c.head_dim || c.n_rot % 2 != 0) {
    f.fail_key(p + "rope.dimension_count", f.find(p + "rope.dimension_count"),
               "rotated dimensions " + std::to_string(c.n_rot) + " must be even and at most " +
                   std::to_string(c.head_dim));
  }
  c.rms_eps = f.get_float(p + "attention.layer_norm_rms_epsilon");
  // llama.cpp's default when the base is absent.
  c.rope_base = f.find_float(p + "rope.freq_base").value_or(10000.0);
  c.rope_scaling = read_rope_scaling(f, p, c.n_ctx_train);
  // Local layers: the global rotation unless the architecture's rotate on their own
  // (LocalRope::Own: base swa_rope_base, no scaling); rope.freq_base_swa names their base.
  const bool own_local = c.arch->local_rope == LocalRope::Own;
  c.rope_base_local = own_local ? c.arch->swa_rope_base : c.rope_base;
  if (auto base = f.find_float(p + "rope.freq_base_swa")) c.rope_base_local = *base;

  if (auto tokens = f.find(std::string("tokenizer.ggml.tokens")))
    c.n_vocab = int64_t(tokens->count);
  c.n_vocab = f.find_int<int64_t>(p + "vocab_size").value_or(c.n_vocab);

  c.attention_scale = float(1.0 / std::sqrt(double(c.head_dim)));
  // 0 is llama.cpp's "not set"; any other value must be a usable scale (find_config_problem).
  if (auto scale = f.find_float(p + "attention.scale"); scale && *scale != 0.0) {
    c.attention_scale = float(*scale);
  }
  if (c.arch->gguf_query_scale_by_embd_layers == c.n_layer) {
    c.attention_scale = float(1.0 / std::sqrt(double(c.n_embd / c.n_head)));
  }
  if (c.arch->softcaps) {
    c.attn_softcap = read_softcap(f, p + "attn_logit_softcapping");
    c.final_softcap = read_softcap(f, p + "final_logit_softcapping");
  }

  c.layer_is_local.assign(size_t(c.n_layer), false);
  const std::string window_key = p + "attention.sliding_window";
  c.sliding_window = f.find_int<int64_t>(window_key).value_or(c.arch->gguf_default_window);
  // 0 is "no window" where an architecture may have none (llama.cpp's n_swa > 0 tests); a
  // negative width, or none where the architecture's layers alternate, is refused.
  if (c.sliding_window < 0 || (f.find(window_key) && c.sliding_window == 0 && c.arch->swa_period))
    f.fail_key(window_key, f.find(window_key),
               "must be a positive width, got " + std::to_string(c.sliding_window));
  if (c.sliding_window > 0) {
    const std::string pattern_key = p + "attention.sliding_window_pattern";
    const gguf::Value* pattern = f.find(pattern_key);
    if (pattern && pattern->type == gguf::ValueType::ARRAY) {
      auto flags = f.get_int_array<int64_t>(pattern_key);
      if (int64_t(flags.size()) != c.n_layer) {
        f.fail_key(pattern_key, pattern, "length differs from layers");
      }
      for (size_t il = 0; il < flags.size(); ++il) c.layer_is_local[il] = flags[il] != 0;
    } else {
      const int64_t period = pattern ? f.get_int<int64_t>(pattern_key) : c.arch->swa_period;
      if (pattern && period <= 0)
        f.fail_key(pattern_key, pattern,
                   "must be a positive period, got " + std::to_string(period));
      for (int64_t il = 0; il < c.n_layer; ++il) {
        c.layer_is_local[size_t(il)] = period > 0 ? (il % period < period - 1) : true;
      }
    }
  }
  c.layer_no_rope.assign(size_t(c.n_layer), false);
  if (const int period = c.arch->nope_period; period > 0) {
    for (int64_t il = 0; il < c.n_layer; ++il) c.layer_no_rope[size_t(il)] = (il + 1) % period == 0;
    // llama.cpp runs these architectures without a window whatever the file says.
    if (c.sliding_window > 0)
      f.fail_key(window_key, f.find(window_key),
                 "is set, but llama.cpp runs " + std::string(c.arch->name) +
                     " without a sliding window; longctx will not guess which layers take it");
  }
  if (auto problem = find_config_problem(c)) {
    const std::string key = gguf_key(problem->field, p, f);
    f.fail_key(key, f.find(key), problem->message);
  }
  return c;
}

TokenizerSummary read_tokenizer_summary(const gguf::File& f) {
  TokenizerSummary s;
  s.model = std::string(f.find_string("tokenizer.ggml.model").value_or(""));
  s.pre = std::string(f.find_string("tokenizer.ggml.pre").value_or(""));
  if (const gguf::Value* tokens = f.find("tokenizer.ggml.tokens")) {
    s.vocab_size = int64_t(tokens->count);
  }
  if (const gguf::Value* merges = f.find("tokenizer.ggml.merges"))
    s.n_merges = int64_t(merges->count);
  s.bos = f.find_int<int64_t>("tokenizer.ggml.bos_token_id");
  s.eos = f.find_int<int64_t>("tokenizer.ggml.eos_token_id");
  s.eot = f.find_int<int64_t>("tokenizer.ggml.eot_token_id");
  s.unk = f.find_int<int64_t>("tokenizer.ggml.unknown_token_id");
  s.pad = f.find_int<int64_t>("tokenizer.ggml.padding_token_id");
  s.add_bos = f.find_bool("tokenizer.ggml.add_bos_token");
  s.add_eos = f.find_bool("tokenizer.ggml.add_eos_token");
  s.add_space_prefix = f.find_bool("tokenizer.ggml.add_space_prefix");
  s.has_chat_template = f.find("tokenizer.chat_template") != nullptr;
  if (f.find("tokenizer.ggml.token_type")) {
    constexpr int64_t kControl = 3;  // token_type enum (gguf.md 3.2)
    for (int64_t t : f.get_int_array<int64_t>("tokenizer.ggml.token_type"))
      s.n_control_tokens += t == kControl;
  }
  return s;
}

}  // namespace longctx
