// The GGUF loader: the configuration from the metadata, completed by the rope factors llama.cpp's
// converter writes as tensors, then the tensors arranged by the shared table (models/layer_loader).
#include <cmath>

#include "models/gguf_config.h"
#include "models/gguf_vocab.h"
#include "models/layer_loader.h"
#include "models/model.h"
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

  // GGUF writes a stack of `count` [rows][cols] matrices with the shape [cols, rows, count].
  std::vector<MatrixView> stacked(const std::string& name, int64_t count, int64_t rows,
                                  int64_t cols) override {
    const gguf::TensorInfo& t = f_.tensor(name);
    expect_shape(t, {cols, rows, count});
    if (!t.type.decodable) {
      throw Error(f_.source() + ": tensor '" + name + "' has type " + std::string(t.type.name) +
                  ", which longctx cannot compute with");
    }
    if (cols > 32768) throw Error(f_.source() + ": tensor '" + name + "' rows are too long");
    std::vector<MatrixView> out;
    const int64_t row_bytes = t.row_bytes();
    for (int64_t e = 0; e < count; ++e)
      out.push_back(
          {kernels::BlockType(t.type.id), t.data + e * rows * row_bytes, rows, cols, row_bytes});
    return out;
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

void read_rope_tensors(const gguf::File& f, ModelConfig& c) {
  GgufTensors src(f);
  const GlobalTensorNames& g = kGgufGlobals;
  if (src.has(std::string(g.rope_freqs))) {
    // Llama 3.x as llama.cpp's converter writes it: frequency i is divided by factor i.
    RopeScaling& s = c.rope_scaling;
    if (s.type != RopeScalingType::None) {
      throw Error(src.where() + ": tensor '" + std::string(g.rope_freqs) + "' and rope scaling '" +
                  rope_scaling_name(s.type) + "' both stretch the rotary frequencies");
    }
    const float* factors = src.vector(std::string(g.rope_freqs), c.n_rot / 2, false);
    s.type = RopeScalingType::Llama3;
    s.freq_factors.assign(factors, factors + c.n_rot / 2);
    for (float x : s.freq_factors) {
      if (!(x > 0) || !std::isfinite(x))
        throw Error(src.where() +
                    ": tensor 'rope_freqs.weight' holds a factor that is not positive");
    }
  }
  if ((src.has(std::string(g.rope_long)) || src.has(std::string(g.rope_short)))) {
    // LongRoPE as llama.cpp's converter writes Phi-3: both factor lists, the attention factor a
    // key.
    RopeScaling& s = c.rope_scaling;
    if (s.type != RopeScalingType::None) {
      throw Error(src.where() + ": LongRoPE factor tensors and rope scaling '" +
                  rope_scaling_name(s.type) + "' both stretch the rotary frequencies");
    }
    s.type = RopeScalingType::LongRope;
    for (auto [name, out] :
         {std::pair{g.rope_long, &s.long_factors}, std::pair{g.rope_short, &s.short_factors}}) {
      const float* x = src.vector(std::string(name), c.n_rot / 2, false);
      out->assign(x, x + c.n_rot / 2);
      for (float v : *out) {
        if (!(v > 0) || !std::isfinite(v)) {
          throw Error(src.where() + ": tensor '" + std::string(name) +
                      "' holds a factor that is not positive");
        }
      }
    }
    if (!(s.attention_factor > 0) || !std::isfinite(s.attention_factor))
      throw Error(src.where() + ": the LongRoPE attention factor (rope.scaling.attn_factor) must " +
                  "be a positive number, got " + std::to_string(s.attention_factor));
  }
  if (c.rope_scaling.type != RopeScalingType::Yarn &&
      c.rope_scaling.type != RopeScalingType::LongRope && c.rope_scaling.attention_factor != 1.0) {
    throw Error(src.where() + ": rope.scaling.attn_factor is " +
                std::to_string(c.rope_scaling.attention_factor) +
                " without yarn or LongRoPE factors; longctx does not implement it");
  }
}

std::unique_ptr<Model> load_gguf_model(const std::string& path) {
  auto model = std::make_unique<Model>();
  model->path = path;
  auto files = std::make_shared<ModelFiles>();
  files->gguf.emplace(gguf::File::open(path));
  model->files = files;
  const gguf::File& f = *files->gguf;
  model->config = read_config(f);
  read_rope_tensors(f, model->config);  // the configuration is complete before any weight
  model->vocab = read_vocab(f);
  check_kernel_limits(model->config, path);
  for (const auto& t : f.tensors()) {
    model->weight_bytes += t.n_bytes;
    model->n_params += t.n_elems;
  }
  GgufTensors tensors(f);
  load_weights(*model, tensors, /*hf=*/false, std::nullopt);
  return model;
}

}  // namespace longctx
