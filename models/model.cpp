#include "models/model.h"

#include <filesystem>

#include "models/gguf_vocab.h"
#include "support/error.h"

namespace longctx {
namespace {

class WeightLoader {
 public:
  explicit WeightLoader(const gguf::File& f) : f_(f) {}

  // A matrix stored as `rows` rows of `cols` elements (GGUF shape [cols, rows]).
  MatrixView matrix(const std::string& name, int64_t cols, int64_t rows) const {
    const gguf::TensorInfo& t = f_.tensor(name);
    expect_shape(t, {cols, rows});
    if (!t.type.decodable) {
      throw Error(f_.source() + ": tensor '" + name + "' has type " + std::string(t.type.name) +
                  ", which longctx cannot compute with");
    }
    if (cols > 32768) throw Error(f_.source() + ": tensor '" + name + "' rows are too long");
    return {kernels::BlockType(t.type.id), t.data, rows, cols, t.row_bytes()};
  }

  // A float vector of n elements; nullptr when absent and optional.
  const float* vector(const std::string& name, int64_t n, bool required = true) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (!t) {
      if (required) f_.tensor(name);  // throws "missing"
      return nullptr;
    }
    expect_shape(*t, {n});
    if (t->type.id != 0) {
      throw Error(f_.source() + ": tensor '" + name + "' must be F32, is " +
                  std::string(t->type.name));
    }
    return reinterpret_cast<const float*>(t->data);
  }

 private:
  void expect_shape(const gguf::TensorInfo& t, std::vector<int64_t> want) const {
    std::vector<int64_t> have = t.shape;
    while (have.size() > want.size() && have.back() == 1) have.pop_back();
    if (have != want) {
      throw Error(f_.source() + ": tensor '" + t.name + "' has shape " + shape_text(t.shape) +
                  ", expected " + shape_text(want) + " from the hyper-parameters");
    }
  }
  const gguf::File& f_;
};

}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out;
  for (int64_t d : shape) out += (out.empty() ? "" : " x ") + std::to_string(d);
  return out;
}

TokenizerSummary tokenizer_summary(const tokenizer::Vocab& v) {
  TokenizerSummary s;
  s.model = v.kind == tokenizer::VocabKind::Bpe ? "gpt2" : "llama";
  s.pre = v.pre;
  s.vocab_size = int64_t(v.tokens.size());
  s.n_merges = int64_t(v.merges.size());
  auto id = [](int32_t x) { return x >= 0 ? std::optional<int64_t>(x) : std::nullopt; };
  s.bos = id(v.bos);
  s.eos = id(v.eos);
  s.eot = id(v.eot);
  s.unk = id(v.unk);
  s.pad = id(v.pad);
  s.add_bos = v.add_bos;
  s.add_eos = v.add_eos;
  s.add_space_prefix = v.add_space_prefix;
  s.has_chat_template = !v.chat_template.empty();
  for (auto t : v.types) s.n_control_tokens += t == tokenizer::TokenType::Control;
  return s;
}

void check_kernel_limits(const ModelConfig& c, const std::string& source) {
  // Limits of the CPU attention kernel (kernels/cpu/attention.h).
  if (c.head_dim > 256 || c.value_dim != c.head_dim || c.n_head / c.n_head_kv > 16) {
    throw Error(source + ": head dim " + std::to_string(c.head_dim) + " with " +
                std::to_string(c.n_head / c.n_head_kv) +
                " query heads per KV head is beyond longctx's attention kernel (head dim <= 256, "
                "equal key and value dims, at most 16 heads per group)");
  }
}

std::unique_ptr<Model> load_model(const std::string& path) {
  if (std::filesystem::is_directory(path)) return load_hf_model(path);
  auto model = std::make_unique<Model>();
  model->path = path;
  model->gguf.emplace(gguf::File::open(path));
  const gguf::File& f = *model->gguf;
  model->config = read_config(f);
  model->vocab = read_vocab(f);
  const ModelConfig& c = model->config;
  const ArchInfo& arch = *c.arch;
  check_kernel_limits(c, path);
  for (const auto& t : f.tensors()) {
    model->weight_bytes += t.n_bytes;
    model->n_params += t.n_elems;
  }
  WeightLoader w(f);
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  const int64_t v_dim = c.n_head_kv * c.value_dim;
  model->token_embd = w.matrix("token_embd.weight", c.n_embd, c.n_vocab);
  model->output_norm = w.vector("output_norm.weight", c.n_embd);
  model->output = f.find_tensor("output.weight") ? w.matrix("output.weight", c.n_embd, c.n_vocab)
                                                 : model->token_embd;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerWeights L;
    L.attn_norm = w.vector(p + "attn_norm.weight", c.n_embd);
    L.wq = w.matrix(p + "attn_q.weight", c.n_embd, q_dim);
    L.wk = w.matrix(p + "attn_k.weight", c.n_embd, kv_dim);
    L.wv = w.matrix(p + "attn_v.weight", c.n_embd, v_dim);
    L.wo = w.matrix(p + "attn_output.weight", c.n_head * c.value_dim, c.n_embd);
    L.bq = w.vector(p + "attn_q.bias", q_dim, arch.qkv_bias);
    L.bk = w.vector(p + "attn_k.bias", kv_dim, arch.qkv_bias);
    L.bv = w.vector(p + "attn_v.bias", v_dim, arch.qkv_bias);
    if (arch.qk_norm) {
      L.q_norm = w.vector(p + "attn_q_norm.weight", c.head_dim);
      L.k_norm = w.vector(p + "attn_k_norm.weight", c.head_dim);
    }
    if (arch.sandwich_norms) {
      L.post_attn_norm = w.vector(p + "post_attention_norm.weight", c.n_embd);
      L.post_ffn_norm = w.vector(p + "post_ffw_norm.weight", c.n_embd);
    }
    L.ffn_norm = w.vector(p + "ffn_norm.weight", c.n_embd);
    L.w_gate = w.matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff);
    L.w_up = w.matrix(p + "ffn_up.weight", c.n_embd, c.n_ff);
    L.w_down = w.matrix(p + "ffn_down.weight", c.n_ff, c.n_embd);
    model->layers.push_back(L);
  }
  return model;
}

}  // namespace longctx
