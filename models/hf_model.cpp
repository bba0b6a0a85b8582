// A Hugging Face model folder: config.json, one or many *.safetensors (with
// model.safetensors.index.json), tokenizer files. The same Model as a GGUF file, through the same
// per-architecture data; the convention differences are columns of its row (models/architecture.h).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "kernels/common/fp16.h"
#include "models/hf_vocab.h"
#include "models/layer_loader.h"
#include "models/model.h"
#include "models/model_files.h"
#include "support/error.h"
#include "support/json_fields.h"
#include "support/text_file.h"

namespace longctx {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using ConfigReader = JsonFields;

// rope_scaling as transformers' rope_init functions read it (modeling_rope_utils): default, linear,
// llama3, yarn. Another type, a key the type does not take, or a yarn variant longctx does not
// implement is refused naming the key: never run unscaled.
// `config` is the whole config.json (Phi-3 keeps original_max_position_embeddings there); `c` has
// the context and the rotated dimensions already.
RopeScaling read_hf_rope_scaling(const JsonFields& rs, const JsonFields& config,
                                 const ModelConfig& c) {
  const int64_t max_positions = c.n_ctx_train;
  RopeScaling s;
  s.original_context = max_positions;
  const std::string type = rs.text("rope_type", rs.text("type", "default"));
  // partial_rotary_factor is read with the head's dimensions (read_hf_config).
  std::set<std::string> known = {"rope_type", "type", "rope_theta", "partial_rotary_factor"};
  auto number = [&](const std::string& key, double fallback) {
    known.insert(key);
    return rs.number(key, fallback);
  };
  auto positive = [&](const std::string& key, double fallback) {
    const double v = number(key, fallback);
    if (!(v > 0)) rs.fail(key, "must be positive");
    return v;
  };
  if (type == "default" || type == "none") {
    s.type = RopeScalingType::None;
  } else if (type == "linear") {
    s.type = RopeScalingType::Linear;
    s.factor = positive("factor", 1.0);
  } else if (type == "llama3") {
    s.type = RopeScalingType::Llama3;
    s.factor = positive("factor", 1.0);
    s.low_freq_factor = positive("low_freq_factor", 1.0);
    s.high_freq_factor = positive("high_freq_factor", 4.0);
    if (!(s.high_freq_factor > s.low_freq_factor))
      rs.fail("high_freq_factor", "must exceed low_freq_factor");
    s.original_context = int64_t(positive("original_max_position_embeddings", 0));
  } else if (type == "yarn") {
    s.type = RopeScalingType::Yarn;
    s.original_context = int64_t(positive("original_max_position_embeddings", 0));
    s.factor = positive("factor", double(max_positions) / double(s.original_context));
    // transformers: `or` defaults, so 0 means the default too.
    s.beta_fast = number("beta_fast", 0) != 0 ? rs.number("beta_fast", 32) : 32.0;
    s.beta_slow = number("beta_slow", 0) != 0 ? rs.number("beta_slow", 1) : 1.0;
    auto mscale = [](double scale, double m) {
      return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
    };
    const double m = number("mscale", 0), m_all = number("mscale_all_dim", 0);
    s.attention_factor = m != 0 && m_all != 0 ? mscale(s.factor, m) / mscale(s.factor, m_all)
                                              : mscale(s.factor, 1.0);
    s.attention_factor = positive("attention_factor", s.attention_factor);
    known.insert("truncate");
    if (!rs.boolean("truncate", true)) rs.fail("truncate", "false is not implemented (true only)");
  } else if (type == "longrope") {
    s.type = RopeScalingType::LongRope;
    known.insert("original_max_position_embeddings");
    s.original_context = rs.present("original_max_position_embeddings")
                             ? rs.integer("original_max_position_embeddings")
                             : config.integer("original_max_position_embeddings");
    if (s.original_context <= 1) rs.fail("original_max_position_embeddings", "must exceed 1");
    s.factor = positive("factor", double(max_positions) / double(s.original_context));
    s.attention_factor =
        s.factor <= 1 ? 1.0
                      : std::sqrt(1.0 + std::log(s.factor) / std::log(double(s.original_context)));
    s.attention_factor = positive("attention_factor", s.attention_factor);
    for (auto [key, out] :
         {std::pair{"short_factor", &s.short_factors}, std::pair{"long_factor", &s.long_factors}}) {
      known.insert(key);
      const json* list = rs.present(key);
      if (!list || !list->is_array() || int64_t(list->size()) != c.n_rot / 2) {
        rs.fail(key, "must be a list of " + std::to_string(c.n_rot / 2) +
                         " numbers (rotated dimensions / 2)");
      }
      for (const json& x : *list) {
        if (!x.is_number() || !(x.get<double>() > 0))
          rs.fail(key, "holds a value that is not a positive number");
        out->push_back(x.get<float>());
      }
    }
  } else {
    rs.fail(rs.present("rope_type") ? "rope_type" : "type",
            "is '" + type +
                "', a rope scaling longctx does not implement (default, linear, llama3, yarn, "
                "longrope)");
  }
  for (const auto& [key, value] : rs.raw().items()) {
    if (!known.count(key) && !value.is_null())
      rs.fail(key, "is not a parameter of rope scaling '" + type + "' (not supported)");
  }
  return s;
}

// transformers' Gemma2Config / Gemma3TextConfig default for sliding_window.
constexpr int64_t kGemmaDefaultWindow = 4096;
// transformers' Qwen2Config / Qwen3Config default for max_window_layers.
constexpr int64_t kQwenMaxWindowLayers = 28;

// The layers without rotary embedding (ArchInfo::nope_period), as SmolLM3Config reads them:
// no_rope_layers, one entry per layer (transformers allows more), else every
// no_rope_layer_interval-th layer.
void read_hf_no_rope(const ConfigReader& r, ModelConfig& c) {
  c.layer_no_rope.assign(size_t(c.n_layer), false);
  if (c.arch->nope_period == 0) return;
  const json& j = r.raw();
  auto list = j.find("no_rope_layers");
  if (list != j.end() && !list->is_null()) {
    if (!list->is_array() || int64_t(list->size()) < c.n_layer)
      r.fail("no_rope_layers", "must hold a 0 or 1 for each of num_hidden_layers layers");
    for (int64_t il = 0; il < c.n_layer; ++il) {
      const json& v = (*list)[size_t(il)];
      if (!v.is_number_integer() || (v != 0 && v != 1))
        r.fail("no_rope_layers", "entries must be 1 (rope) or 0 (no rope), got " + v.dump());
      c.layer_no_rope[size_t(il)] = v == 0;
    }
    return;
  }
  const int64_t interval = r.integer("no_rope_layer_interval", c.arch->nope_period);
  if (interval < 1) r.fail("no_rope_layer_interval", "must be at least 1");
  for (int64_t il = 0; il < c.n_layer; ++il) c.layer_no_rope[size_t(il)] = (il + 1) % interval == 0;
}

// Which layers attend through a sliding window, and its width, by the class's rule (HfWindow).
void read_hf_window(const ConfigReader& r, const HfClass& hf, ModelConfig& c) {
  const json& j = r.raw();
  c.layer_is_local.assign(size_t(c.n_layer), false);
  auto window = [&] {
    c.sliding_window = r.integer("sliding_window");
    if (c.sliding_window <= 0) r.fail("sliding_window", "must be positive");
  };
  switch (hf.window) {
    case HfWindow::None:
      return;
    case HfWindow::AllLayers:
      if (!r.present("sliding_window")) return;  // null: no window (Mistral v0.2 on)
      window();
      c.layer_is_local.assign(size_t(c.n_layer), true);
      return;
    case HfWindow::FlaggedAll:
      if (!r.boolean("use_sliding_window", false) || !r.present("sliding_window")) return;
      window();
      c.layer_is_local.assign(size_t(c.n_layer), true);
      return;
    case HfWindow::Flagged: {
      if (!r.boolean("use_sliding_window", false)) return;
      window();
      const int64_t first = r.integer("max_window_layers", kQwenMaxWindowLayers);
      for (int64_t il = std::max<int64_t>(first, 0); il < c.n_layer; ++il)
        c.layer_is_local[size_t(il)] = true;
      return;
    }
    case HfWindow::NoRopeLayers: {
      if (!r.boolean("use_sliding_window", false) || !r.present("sliding_window")) return;
      window();
      auto types = j.find("layer_types");
      if (types == j.end() || !types->is_array()) {
        c.layer_is_local = c.layer_no_rope;
        return;
      }
      if (int64_t(types->size()) != c.n_layer)
        r.fail("layer_types", "length differs from num_hidden_layers");
      for (size_t il = 0; il < types->size(); ++il)
        c.layer_is_local[il] = (*types)[il] == "sliding_attention";
      return;
    }
    case HfWindow::LayerTypes:
      break;
  }
  c.sliding_window = r.integer("sliding_window", kGemmaDefaultWindow);
  auto types = j.find("layer_types");
  if (types != j.end() && types->is_array()) {
    if (int64_t(types->size()) != c.n_layer)
      r.fail("layer_types", "length differs from num_hidden_layers");
    for (size_t il = 0; il < types->size(); ++il) {
      c.layer_is_local[il] = (*types)[il] == "sliding_attention";
    }
  } else {
    int64_t period = r.integer("sliding_window_pattern", c.arch->swa_period);
    if (period < 1) r.fail("sliding_window_pattern", "must be at least 1");
    for (int64_t il = 0; il < c.n_layer; ++il)
      c.layer_is_local[size_t(il)] = il % period < period - 1;
  }
}

// Routed experts as transformers' Qwen3MoeConfig and MixtralConfig give them. Layers with a dense
// FFN among routed ones (Qwen3-MoE's decoder_sparse_step, mlp_only_layers) are refused: every
// published Qwen3-MoE routes every layer.
ExpertFfn read_hf_experts(const ConfigReader& r, const HfClass& hf, const ModelConfig& c) {
  ExpertFfn e;
  if (!hf.routed) return e;
  const char* count_key = r.present("num_local_experts") ? "num_local_experts" : "num_experts";
  e.count = r.integer(count_key);
  if (e.count < 1 || e.count > kMaxExperts)
    r.fail(count_key, "must be 1 to " + std::to_string(kMaxExperts));
  e.used = r.integer("num_experts_per_tok");
  if (e.used < 1 || e.used > std::min(e.count, kMaxExpertsUsed))
    r.fail("num_experts_per_tok",
           "must be 1 to " + std::to_string(std::min(e.count, kMaxExpertsUsed)));
  e.n_ff = r.present("moe_intermediate_size") ? r.integer("moe_intermediate_size") : c.n_ff;
  if (e.n_ff <= 0) r.fail("moe_intermediate_size", "must be positive");
  const std::string norm_key(c.arch->hf_expert_norm_key);
  e.renormalize = norm_key.empty() || r.boolean(norm_key, false);
  if (r.integer("decoder_sparse_step", 1) != 1)
    r.fail("decoder_sparse_step", "must be 1 (every layer routed); longctx runs no mixed layers");
  if (const json* dense = r.present("mlp_only_layers");
      dense && !(dense->is_array() && dense->empty()))
    r.fail("mlp_only_layers", "must be empty (every layer routed); longctx runs no mixed layers");
  return e;
}

// The config.json key that holds a validated field.
std::string hf_key(ConfigField field, const ModelConfig& c) {
  switch (field) {
    case ConfigField::ContextLength:
      return "max_position_embeddings";
    case ConfigField::RmsEps:
      return "rms_norm_eps";
    case ConfigField::RopeBase:
      return "rope_theta";
    case ConfigField::RopeBaseLocal:
      return "rope_local_base_freq";
    case ConfigField::AttentionScale:
      return c.arch->hf_query_scalar.empty() ? "head_dim" : std::string(c.arch->hf_query_scalar);
    case ConfigField::SlidingWindow:
      return "sliding_window";
    case ConfigField::ScalingFactor:
    case ConfigField::LocalScalingFactor:
      return "rope_scaling.factor";
    case ConfigField::ScalingOriginalContext:
    case ConfigField::LocalScalingOriginalContext:
      return "rope_scaling.original_max_position_embeddings";
    case ConfigField::ScalingAttentionFactor:
    case ConfigField::LocalScalingAttentionFactor:
      return "rope_scaling.attention_factor";
  }
  return "";
}

// The gated FFN's activation, under the key the class reads (ArchInfo::hf_activation_key), as
// transformers' ACT2FN names it. What the architecture's row runs is accepted under each of its
// names; any other activation is refused, never run as something else.
void read_hf_activation(const ConfigReader& r, const ModelConfig& c) {
  struct Name {
    std::string_view name;
    Activation runs;
  };
  // silu/swish: x sigmoid(x). gelu_pytorch_tanh, gelu_new, gelu_fast: the tanh approximation
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (gelu_fast writes the same polynomial).
  // "gelu" is the exact erf form, which longctx does not run.
  constexpr Name kNames[] = {{"silu", Activation::Silu},
                             {"swish", Activation::Silu},
                             {"gelu_pytorch_tanh", Activation::GeluTanh},
                             {"gelu_new", Activation::GeluTanh},
                             {"gelu_fast", Activation::GeluTanh}};
  const std::string key(c.arch->hf_activation_key);
  if (!r.present(key)) return;  // the class's default, which the row runs
  const std::string value = r.text(key, "");
  for (const Name& n : kNames) {
    if (n.name == value && n.runs == c.arch->activation) return;
  }
  r.fail(key, "is '" + value + "'; longctx runs " + std::string(c.arch->name) + " with " +
                  (c.arch->activation == Activation::Silu ? "silu (or swish)"
                                                          : "gelu_pytorch_tanh (or gelu_new)") +
                  " only");
}

// `open_weights` opens the weights once the architecture is known and returns how many tensors
// they hold, which bounds the layer count before anything is sized by it.
ModelConfig read_hf_config(const ConfigReader& r, const std::function<size_t()>& open_weights) {
  ModelConfig c;
  const json& j = r.raw();
  auto archs = j.find("architectures");
  if (archs == j.end() || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    r.fail("architectures", "is missing or not a list of names");
  }
  std::string hf_arch = (*archs)[0].get<std::string>();
  c.arch = find_hf_arch(hf_arch);
  if (!c.arch) {
    r.fail("architectures", "names " + hf_arch + ", which longctx does not run (" +
                                supported_hf_class_names() + ")");
  }
  c.name = r.text("_name_or_path", "");
  c.rope_type = c.arch->hf_rope;
  c.n_embd = r.integer("hidden_size");
  c.n_layer = r.integer("num_hidden_layers");
  c.n_head = r.integer("num_attention_heads");
  c.n_head_kv = r.integer("num_key_value_heads", c.n_head);
  c.n_ff = r.integer("intermediate_size");
  c.n_vocab = r.integer("vocab_size");
  for (auto [key, v] : {std::pair{"hidden_size", c.n_embd},
                        {"num_hidden_layers", c.n_layer},
                        {"num_attention_heads", c.n_head},
                        {"num_key_value_heads", c.n_head_kv},
                        {"intermediate_size", c.n_ff},
                        {"vocab_size", c.n_vocab}}) {
    if (v <= 0) r.fail(key, "must be positive");
  }
  const size_t n_tensors = open_weights();
  if (uint64_t(c.n_layer) > n_tensors) {
    r.fail("num_hidden_layers", "is " + std::to_string(c.n_layer) + " but the weights hold only " +
                                    std::to_string(n_tensors) + " tensors");
  }
  if (c.n_head % c.n_head_kv != 0)
    r.fail("num_key_value_heads", "does not divide num_attention_heads");
  c.head_dim = r.integer("head_dim", c.n_embd / c.n_head);
  c.value_dim = c.head_dim;
  // Rotated dimensions: the head's, times partial_rotary_factor (top level, or in transformers 5's
  // rope_parameters).
  double partial = r.number("partial_rotary_factor", 1.0);
  if (const json* rp = r.present("rope_parameters"); rp && rp->is_object())
    partial =
        JsonFields(r.where() + ": rope_parameters", *rp).number("partial_rotary_factor", partial);
  c.n_rot = int64_t(std::llround(double(c.head_dim) * partial));
  if (c.n_rot <= 0 || c.n_rot % 2 != 0 || c.n_rot > c.head_dim)
    r.fail("partial_rotary_factor",
           "gives " + std::to_string(c.n_rot) +
               " rotated dimensions; they must be even and at most head_dim");
  c.n_ctx_train = r.integer("max_position_embeddings", 4096);
  if (c.n_ctx_train <= 0) r.fail("max_position_embeddings", "must be positive");
  c.rope_scaling.original_context = c.n_ctx_train;
  c.rms_eps = r.number("rms_norm_eps", 1e-6);
  c.rope_base = r.number("rope_theta", 10000.0);
  // Local layers rotate as the global ones, unless the architecture's rotate on their own
  // (LocalRope::Own: Gemma 3's rope_local_base_freq, no scaling unless rope_parameters gives one).
  const bool own_local = c.arch->local_rope == LocalRope::Own;
  double local_base = own_local ? r.number("rope_local_base_freq", c.arch->swa_rope_base) : 0.0;
  // transformers 5 writes rope_parameters (rope_theta inside; per layer type for Gemma 3); older
  // configs rope_scaling.
  if (const json* rs = r.present("rope_scaling"))
    c.rope_scaling = read_hf_rope_scaling(JsonFields(r.where() + ": rope_scaling", *rs), r, c);
  if (const json* rp = r.present("rope_parameters")) {
    const JsonFields params(r.where() + ": rope_parameters", *rp);
    const json* global = params.present("full_attention");
    const json* local = params.present("sliding_attention");
    if (global || local) {
      if (!own_local)
        params.fail(global ? "full_attention" : "sliding_attention",
                    "gives a layer type its own rotation, which " + std::string(c.arch->name) +
                        " does not have (one rotation for every layer, as transformers runs it)");
      for (const auto& [key, value] : rp->items()) {
        if (key != "full_attention" && key != "sliding_attention")
          params.fail(key, "is not a layer type (full_attention, sliding_attention)");
      }
    }
    if (local) {
      const JsonFields l(params.where() + ": sliding_attention", *local);
      local_base = l.number("rope_theta", local_base);
      c.rope_scaling_local = read_hf_rope_scaling(l, r, c);
    }
    const JsonFields g = global ? JsonFields(params.where() + ": full_attention", *global) : params;
    if (global || !local) {
      c.rope_base = g.number("rope_theta", c.rope_base);
      c.rope_scaling = read_hf_rope_scaling(g, r, c);
    }
  }
  c.rope_base_local = own_local ? local_base : c.rope_base;
  c.attention_scale = float(1.0 / std::sqrt(double(c.head_dim)));
  if (!c.arch->hf_query_scalar.empty()) {
    const std::string key(c.arch->hf_query_scalar);
    const double scalar = r.number(key.c_str(), double(c.head_dim));
    if (!(scalar > 0) || !std::isfinite(scalar)) r.fail(key.c_str(), "must be positive");
    c.attention_scale = float(1.0 / std::sqrt(scalar));
  }
  if (c.arch->softcaps) {
    for (auto [key, cap] : {std::pair{"attn_logit_softcapping", &c.attn_softcap},
                            std::pair{"final_logit_softcapping", &c.final_softcap}}) {
      if (!r.present(key)) continue;  // absent or null: none
      const double v = r.number(key, 0.0);
      if (!(v > 0) || !std::isfinite(v)) r.fail(key, "must be a positive number");
      *cap = float(v);
    }
  }
  c.experts = read_hf_experts(r, *find_hf_class(hf_arch), c);
  read_hf_no_rope(r, c);
  read_hf_window(r, *find_hf_class(hf_arch), c);
  read_hf_activation(r, c);
  if (auto problem = find_config_problem(c)) r.fail(hf_key(problem->field, c), problem->message);
  return c;
}

json read_json(const fs::path& path) {
  return read_json_file(path.string());
}

// The shard files: model.safetensors.index.json's weight map, else every *.safetensors.
std::vector<fs::path> shard_paths(const fs::path& folder) {
  std::set<fs::path> files;
  fs::path index = folder / "model.safetensors.index.json";
  if (fs::exists(index)) {
    json j = read_json(index);
    auto map = j.find("weight_map");
    if (map == j.end() || !map->is_object()) throw Error(index.string() + ": no weight_map object");
    for (auto& [name, file] : map->items()) {
      if (!file.is_string())
        throw Error(index.string() + ": weight_map entry '" + name + "' is not a file name");
      // A shard is a plain file name inside the folder: an absolute path, a sub-folder or ".."
      // could make a hostile index open any file. (Symbolic links inside the folder are its
      // content: the Hugging Face cache links every file to its blob store.)
      const std::string shard = file.get<std::string>();
      if (shard.empty() || shard == "." || shard == ".." ||
          shard.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
        throw Error(index.string() + ": weight_map entry '" + name + "' names '" + shard +
                    "', which is not a file name inside the folder");
      }
      files.insert(folder / shard);
    }
  } else {
    for (const auto& e : fs::directory_iterator(folder)) {
      if (e.path().extension() == ".safetensors") files.insert(e.path());
    }
  }
  if (files.empty()) throw Error(folder.string() + ": no *.safetensors files");
  return {files.begin(), files.end()};
}

class HfTensors final : public TensorSource {
 public:
  HfTensors(Model& m, const std::vector<safetensors::File>& shards)
      : m_(m), shards_(shards), norm_add_(m.config.arch->hf_norm_plus_one ? 1.0f : 0.0f) {
    for (size_t s = 0; s < shards.size(); ++s) {
      for (const auto& t : shards[s].tensors()) {
        if (!where_.emplace(t.name, std::pair{s, &t}).second) {
          throw Error(shards[s].source() + ": tensor '" + t.name +
                      "' also appears in another shard");
        }
        m.weight_bytes += int64_t(t.end - t.begin);
        m.n_params += t.n_elems;
      }
    }
  }
  bool has(const std::string& name) const override { return where_.count(name) > 0; }

  // A [rows, cols] matrix (PyTorch [out, in]).
  MatrixView matrix(const std::string& name, int64_t rows, int64_t cols) override {
    const auto& [t, file] = get(name, {rows, cols});
    if (cols > 32768) throw Error(file + ": tensor '" + name + "' rows are too long");
    int64_t elem = t->dtype == kernels::BlockType::F32 ? 4 : 2;
    return {t->dtype, t->data, rows, cols, cols * elem};
  }

  // A float vector of n (converted from F16/BF16; plus one for Gemma's norms).
  const float* vector(const std::string& name, int64_t n, bool norm) override {
    const auto& [t, file] = get(name, {n});
    const float add = norm ? norm_add_ : 0.0f;
    std::vector<float> v(static_cast<size_t>(n));
    kernels::dequantize_blocks(t->dtype, t->data, v.data(), n);
    for (float& x : v) x += add;
    m_.owned.push_back(std::move(v));
    return m_.owned.back().data();
  }

  std::set<std::string> names() const override {
    std::set<std::string> out;
    for (const auto& [name, where] : where_) out.insert(name);
    return out;
  }
  std::string where() const override { return m_.path; }

 private:
  std::pair<const safetensors::TensorInfo*, std::string> get(
      const std::string& name, const std::vector<int64_t>& shape) const {
    auto it = where_.find(name);
    if (it == where_.end()) throw Error(m_.path + ": tensor '" + name + "' is missing");
    const safetensors::TensorInfo* t = it->second.second;
    const std::string& file = shards_[it->second.first].source();
    if (t->shape != shape) {
      throw Error(file + ": tensor '" + name + "' has shape " + shape_text(t->shape) +
                  ", config.json implies " + shape_text(shape));
    }
    return {t, file};
  }
  Model& m_;
  const std::vector<safetensors::File>& shards_;
  float norm_add_;
  std::unordered_map<std::string, std::pair<size_t, const safetensors::TensorInfo*>> where_;
};

}  // namespace

std::unique_ptr<Model> load_hf_model(const std::string& folder_name) {
  fs::path folder(folder_name);
  auto model = std::make_unique<Model>();
  auto files = std::make_shared<ModelFiles>();
  model->files = files;
  model->path = folder_name;
  fs::path config_path = folder / "config.json";
  if (!fs::exists(config_path))
    throw Error(folder_name + ": no config.json (not a Hugging Face model folder)");
  json config_json = read_json(config_path);
  ConfigReader config(config_path.string(), config_json);
  model->config = read_hf_config(config, [&] {
    size_t n_tensors = 0;
    for (const fs::path& p : shard_paths(folder)) {
      files->shards.push_back(safetensors::File::open(p.string()));
      n_tensors += files->shards.back().tensors().size();
    }
    return n_tensors;
  });
  const ModelConfig& c = model->config;
  check_kernel_limits(c, config_path.string());
  HfTensors w(*model, files->shards);
  // The embedding's shape checks vocab_size and hidden_size before the vocabulary is sized by them.
  w.matrix(std::string(kHfGlobals.token_embd), c.n_vocab, c.n_embd);
  model->vocab = read_hf_vocab(folder_name, c);
  load_weights(*model, w, /*hf=*/true,
               config.boolean("tie_word_embeddings", !w.has("lm_head.weight")));
  return model;
}

}  // namespace longctx
