// A loaded model: hyper-parameters plus named weight views into the mmap'd file, arranged by the
// architecture's recipe (which tensors exist, which are optional) and checked against the config.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernels/common/matrix_view.h"
#include "models/config.h"
#include "tokenizer/vocab.h"

namespace longctx {

using kernels::MatrixView;

struct LayerWeights {
  const float* attn_norm = nullptr;
  MatrixView wq, wk, wv, wo;
  const float* bq = nullptr;  // qwen2 biases
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // gemma3 per-head norms
  const float* k_norm = nullptr;
  const float* post_attn_norm = nullptr;  // gemma3 sandwich norms
  const float* ffn_norm = nullptr;
  MatrixView w_gate, w_up, w_down;  // the dense gated FFN
  const float* post_ffn_norm = nullptr;
  // Routed experts (ModelConfig::experts): the router [count][n_embd] and each expert's matrices,
  // one view per expert (a GGUF's 3-D tensor sliced: every expert's rows are contiguous).
  MatrixView router;
  std::vector<MatrixView> gate_exps, up_exps, down_exps;
};

struct ModelFiles;

struct Model {
  ModelConfig config;
  tokenizer::Vocab vocab;
  MatrixView token_embd;
  const float* output_norm = nullptr;
  MatrixView output;  // token_embd when the file ties them
  std::vector<LayerWeights> layers;
  std::string path;
  int64_t weight_bytes = 0;
  int64_t n_params = 0;
  // What the views point into: the mapped files (models/model_files.h; the engine never sees the
  // parsers), and the float vectors longctx rewrote (Gemma's norms: ArchInfo::hf_norm_plus_one).
  std::shared_ptr<const ModelFiles> files;
  std::vector<std::vector<float>> owned;
};

// Loads a GGUF file or a Hugging Face folder (config.json + *.safetensors + tokenizer files);
// throws longctx::Error naming the tensor on a missing tensor, a shape that disagrees with the
// hyper-parameters, or a type longctx cannot compute with.
std::unique_ptr<Model> load_model(const std::string& path);

// The two loaders load_model chooses between: a GGUF file (models/gguf_model.cpp) and a Hugging
// Face folder (models/hf_model.cpp). Each completes the configuration before reading a weight.
std::unique_ptr<Model> load_gguf_model(const std::string& path);
std::unique_ptr<Model> load_hf_model(const std::string& folder);

// "576 x 49152": a shape as error messages and `info` print it.
std::string shape_text(const std::vector<int64_t>& shape);

// What `info` shows of a tokenizer, from its vocabulary (any source).
TokenizerSummary tokenizer_summary(const tokenizer::Vocab& vocab);

// Limits of the CPU attention kernel, checked for every model.
void check_kernel_limits(const ModelConfig& c, const std::string& source);

}  // namespace longctx
