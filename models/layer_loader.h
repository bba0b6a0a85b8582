// The one loop that arranges a model's weights by its architecture's tensor table
// (models/architecture.h), for a GGUF file and a Hugging Face folder alike: each format only says
// where a named tensor is and how to view it.
#pragma once

#include <set>
#include <string>

#include "models/model.h"

namespace longctx {

// A source of named tensors. Matrices are [rows = outputs][cols = inputs] as the recipe multiplies
// them, whatever order the format writes the shape in.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual bool has(const std::string& name) const = 0;
  // Throws longctx::Error naming the tensor when it is missing, has another shape, or a type
  // longctx cannot compute with.
  virtual MatrixView matrix(const std::string& name, int64_t rows, int64_t cols) = 0;
  // `count` matrices of [rows][cols] stacked in one tensor (GGUF's routed experts), one view each.
  virtual std::vector<MatrixView> stacked(const std::string& name, int64_t count, int64_t rows,
                                          int64_t cols);
  // A float vector of n; `norm` marks a norm's weight (the format may store it shifted).
  virtual const float* vector(const std::string& name, int64_t n, bool norm) = 0;
  // Every tensor the file holds, for the check that the recipe reads all of them.
  virtual std::set<std::string> names() const = 0;
  virtual std::string where() const = 0;  // the file, for messages
};

// Reads the model-wide tensors and every layer's by the architecture's table (GGUF or Hugging Face
// names), then refuses a file holding a tensor the recipe would not read: running without it
// would be running a different model in silence (a Llama 3.x rope_freqs, a bias of an
// architecture that has none). `tied` says whether the output projection is the embedding
// (nullopt: when the file has no output tensor).
void load_weights(Model& model, TensorSource& source, bool hf, std::optional<bool> tied);

}  // namespace longctx
