#include "models/model.h"

#include <filesystem>

#include "kernels/common/attention_args.h"
#include "models/gguf_config.h"
#include "models/gguf_vocab.h"
#include "models/layer_loader.h"
#include "models/model_files.h"
#include "support/error.h"

namespace longctx {
namespace {

class GgufTensors final : public TensorSource {
 public:
  explicit GgufTensors(const gguf::File& f) : f_(f) {}

  bool has(const std::string& name) const override { return f_.find_tensor(name) != nullptr; }

  // `rows` rows of `cols` elements: GGUF writes the shape [cols, rows].
  MatrixView matrix(const std::string& name, int64_t rows, int64_t cols) override {
    const gguf::TensorInfo& t = f_.tensor(name);
    expect_shape(t, {cols, rows});
    if (!t.type.decodable) {
      throw Error(f_.source() + ": tensor '" + name + "' has type " + std::string(t.type.name) +
                  ", which longctx cannot compute with");
    }
    if (cols > 32768) throw Error(f_.source() + ": tensor '" + name + "' rows are too long");
    return {kernels::BlockType(t.type.id), t.data, rows, cols, t.row_bytes()};
  }

  // GGUF norms already hold what the recipe multiplies by (the converters add Gemma's one).
  const float* vector(const std::string& name, int64_t n, bool) override {
    const gguf::TensorInfo* t = &f_.tensor(name);  // throws "missing"
    expect_shape(*t, {n});
    if (t->type.id != 0) {
      throw Error(f_.source() + ": tensor '" + name + "' must be F32, is " +
                  std::string(t->type.name));
    }
    return reinterpret_cast<const float*>(t->data);
  }

  std::set<std::string> names() const override {
    std::set<std::string> out;
    for (const auto& t : f_.tensors()) out.insert(t.name);
    return out;
  }
  std::string where() const override { return f_.source(); }

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
  // The attention kernels' limits (kernels/common/attention_args.h), the same on every backend.
  const int64_t group = c.n_head / c.n_head_kv;
  if (c.head_dim > kernels::kMaxHeadDim || c.value_dim != c.head_dim ||
      group > kernels::kMaxGroup) {
    throw Error(source + ": head dim " + std::to_string(c.head_dim) + " with " +
                std::to_string(group) + " query heads per KV head is beyond longctx's attention " +
                "kernels (head dim <= " + std::to_string(kernels::kMaxHeadDim) +
                ", equal key and value dims, at most " + std::to_string(kernels::kMaxGroup) +
                " heads per group)");
  }
}

std::unique_ptr<Model> load_model(const std::string& path) {
  if (std::filesystem::is_directory(path)) return load_hf_model(path);
  auto model = std::make_unique<Model>();
  model->path = path;
  auto files = std::make_shared<ModelFiles>();
  files->gguf.emplace(gguf::File::open(path));
  model->files = files;
  const gguf::File& f = *files->gguf;
  model->config = read_config(f);
  model->vocab = read_vocab(f);
  const ModelConfig& c = model->config;
  check_kernel_limits(c, path);
  for (const auto& t : f.tensors()) {
    model->weight_bytes += t.n_bytes;
    model->n_params += t.n_elems;
  }
  GgufTensors tensors(f);
  load_weights(*model, tensors, /*hf=*/false, std::nullopt);
  return model;
}

}  // namespace longctx
