#include "models/config.h"

#include "models/gguf_config.h"

#include <cmath>

#include "support/error.h"

namespace longctx {
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

void require_positive(const gguf::File& f, const std::string& key, int64_t value) {
  if (value <= 0) f.fail_key(key, f.find(key), "must be positive, got " + std::to_string(value));
}

}  // namespace

std::vector<float> ModelConfig::rotary_frequencies(int64_t layer) const {
  const bool local = layer_is_local[size_t(layer)];
  const double base = local ? rope_base_local : rope_base;
  const double factor = rope_scaling.type == "linear" && !local ? rope_scaling.factor : 1.0;
  std::vector<float> f(size_t(n_rot / 2));
  for (int64_t i = 0; i < n_rot / 2; ++i)
    f[size_t(i)] = float(std::pow(base, -2.0 * double(i) / double(n_rot)) / factor);
  return f;
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
  c.rope_base_local = c.arch->swa_rope_base > 0 ? c.arch->swa_rope_base : c.rope_base;
  if (auto base = f.find_float(p + "rope.freq_base_swa")) c.rope_base_local = *base;

  if (auto type = f.find_string(p + "rope.scaling.type")) c.rope_scaling.type = std::string(*type);
  double factor = f.find_float(p + "rope.scaling.factor")
                      .value_or(f.find_float(p + "rope.scale_linear").value_or(0.0));
  if (factor > 0 && c.rope_scaling.type == "none") c.rope_scaling.type = "linear";
  c.rope_scaling.factor = factor > 0 ? factor : 1.0;
  c.rope_scaling.original_context =
      f.find_int<int64_t>(p + "rope.scaling.original_context_length").value_or(c.n_ctx_train);

  if (auto tokens = f.find(std::string("tokenizer.ggml.tokens")))
    c.n_vocab = int64_t(tokens->count);
  c.n_vocab = f.find_int<int64_t>(p + "vocab_size").value_or(c.n_vocab);

  c.attention_scale = float(1.0 / std::sqrt(double(c.head_dim)));
  if (auto scale = f.find_float(p + "attention.scale"); scale && *scale != 0.0) {
    c.attention_scale = float(*scale);
  }
  if (c.arch->gguf_query_scale_by_embd_layers == c.n_layer) {
    c.attention_scale = float(1.0 / std::sqrt(double(c.n_embd / c.n_head)));
  }

  c.layer_is_local.assign(size_t(c.n_layer), false);
  c.sliding_window = f.find_int<int64_t>(p + "attention.sliding_window").value_or(0);
  if (c.sliding_window > 0) {
    const gguf::Value* pattern = f.find(p + "attention.sliding_window_pattern");
    if (pattern && pattern->type == gguf::ValueType::ARRAY) {
      auto flags = f.get_int_array<int64_t>(p + "attention.sliding_window_pattern");
      if (int64_t(flags.size()) != c.n_layer) {
        f.fail_key(p + "attention.sliding_window_pattern", pattern, "length differs from layers");
      }
      for (size_t il = 0; il < flags.size(); ++il) c.layer_is_local[il] = flags[il] != 0;
    } else {
      int64_t period =
          pattern ? f.get_int<int64_t>(p + "attention.sliding_window_pattern") : c.arch->swa_period;
      for (int64_t il = 0; il < c.n_layer; ++il) {
        c.layer_is_local[size_t(il)] = period > 0 ? (il % period < period - 1) : true;
      }
    }
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
