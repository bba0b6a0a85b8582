#include "models/layer_loader.h"

#include <cmath>

#include "support/error.h"

namespace longctx {
namespace {

struct Shape {
  int64_t rows = 0, cols = 0;  // cols == 0: a vector of `rows`
  bool norm = false;
};

Shape shape_of(LayerTensor role, const ModelConfig& c) {
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  const int64_t v_dim = c.n_head_kv * c.value_dim, d = c.n_embd;
  switch (role) {
    case LayerTensor::AttnNorm:
    case LayerTensor::PostAttnNorm:
    case LayerTensor::FfnNorm:
    case LayerTensor::PostFfnNorm:
      return {d, 0, true};
    case LayerTensor::QNorm:
    case LayerTensor::KNorm:
      return {c.head_dim, 0, true};
    case LayerTensor::Wq:
      return {q_dim, d};
    case LayerTensor::Wk:
      return {kv_dim, d};
    case LayerTensor::Wv:
      return {v_dim, d};
    case LayerTensor::Wo:
      return {d, c.n_head * c.value_dim};
    case LayerTensor::Bq:
      return {q_dim, 0};
    case LayerTensor::Bk:
      return {kv_dim, 0};
    case LayerTensor::Bv:
      return {v_dim, 0};
    case LayerTensor::Gate:
    case LayerTensor::Up:
      return {c.n_ff, d};
    case LayerTensor::Down:
      return {d, c.n_ff};
    case LayerTensor::Wqkv:
      return {q_dim + kv_dim + v_dim, d};
    case LayerTensor::GateUp:
      return {2 * c.n_ff, d};
    case LayerTensor::Router:
      return {c.experts.count, d};
    case LayerTensor::GateExps:
    case LayerTensor::UpExps:
      return {c.experts.n_ff, d};
    case LayerTensor::DownExps:
      return {d, c.experts.n_ff};
  }
  throw Error("unknown layer tensor");
}

// Where the layer's field for a role lives.
void assign(LayerWeights& L, LayerTensor role, const MatrixView& m, const float* v) {
  switch (role) {
    case LayerTensor::AttnNorm:
      L.attn_norm = v;
      break;
    case LayerTensor::Wq:
      L.wq = m;
      break;
    case LayerTensor::Wk:
      L.wk = m;
      break;
    case LayerTensor::Wv:
      L.wv = m;
      break;
    case LayerTensor::Wo:
      L.wo = m;
      break;
    case LayerTensor::Bq:
      L.bq = v;
      break;
    case LayerTensor::Bk:
      L.bk = v;
      break;
    case LayerTensor::Bv:
      L.bv = v;
      break;
    case LayerTensor::QNorm:
      L.q_norm = v;
      break;
    case LayerTensor::KNorm:
      L.k_norm = v;
      break;
    case LayerTensor::PostAttnNorm:
      L.post_attn_norm = v;
      break;
    case LayerTensor::FfnNorm:
      L.ffn_norm = v;
      break;
    case LayerTensor::Gate:
      L.w_gate = m;
      break;
    case LayerTensor::Up:
      L.w_up = m;
      break;
    case LayerTensor::Down:
      L.w_down = m;
      break;
    case LayerTensor::PostFfnNorm:
      L.post_ffn_norm = v;
      break;
    case LayerTensor::Router:
      L.router = m;
      break;
    case LayerTensor::Wqkv:  // split by load_weights
    case LayerTensor::GateUp:
    case LayerTensor::GateExps:  // one view per expert: read by load_weights
    case LayerTensor::UpExps:
    case LayerTensor::DownExps:
      break;
  }
}

// Rows [first, first + rows) of a matrix: a view of its own (rows are stored whole).
MatrixView rows_of(const MatrixView& m, int64_t first, int64_t rows) {
  MatrixView v = m;
  v.data = m.data + first * m.row_bytes;
  v.rows = rows;
  return v;
}

// Buffers a checkpoint may carry that the config already determines (old transformers saved the
// rotary frequencies of every layer).
bool derived_buffer(const std::string& name) {
  const std::string suffix = "rotary_emb.inv_freq";
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool dense_ffn(LayerTensor role) {
  return role == LayerTensor::Gate || role == LayerTensor::Up || role == LayerTensor::Down ||
         role == LayerTensor::GateUp;
}

std::vector<MatrixView>* experts_of(LayerWeights& L, LayerTensor role) {
  switch (role) {
    case LayerTensor::GateExps:
      return &L.gate_exps;
    case LayerTensor::UpExps:
      return &L.up_exps;
    case LayerTensor::DownExps:
      return &L.down_exps;
    default:
      return nullptr;
  }
}

}  // namespace

std::vector<MatrixView> TensorSource::stacked(const std::string& name, int64_t, int64_t, int64_t) {
  throw Error(where() + ": tensor '" + name + "': this format holds no stacked experts");
}

void load_weights(Model& model, TensorSource& src, bool hf, std::optional<bool> tied) {
  const ModelConfig& c = model.config;
  const ArchInfo& arch = *c.arch;
  const GlobalTensorNames& g = hf ? kHfGlobals : kGgufGlobals;
  std::set<std::string> read;
  auto take = [&](std::string_view name) {
    read.insert(std::string(name));
    return std::string(name);
  };
  model.token_embd = src.matrix(take(g.token_embd), c.n_vocab, c.n_embd);
  model.output_norm = src.vector(take(g.output_norm), c.n_embd, true);
  const bool is_tied = tied.value_or(!src.has(std::string(g.output)));
  model.output = is_tied ? model.token_embd : src.matrix(take(g.output), c.n_vocab, c.n_embd);
  // Rope factor tensors (GGUF) were read into the configuration before the weights.
  const RopeScaling& rs = c.rope_scaling;
  if (!rs.freq_factors.empty() && !g.rope_freqs.empty()) take(g.rope_freqs);
  if (!rs.long_factors.empty() && !g.rope_long.empty() && src.has(std::string(g.rope_long))) {
    take(g.rope_long);
    take(g.rope_short);
  }
  model.layers.clear();
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string prefix = (hf ? "model.layers." : "blk.") + std::to_string(il) + ".";
    LayerWeights L;
    // The FFN's variant point: the dense gated FFN's tensors, or the routed experts'.
    std::vector<TensorName> tensors;
    for (const TensorName& t : arch.tensors)
      if (!(c.routed() && dense_ffn(t.role))) tensors.push_back(t);
    if (c.routed())
      tensors.insert(tensors.end(), arch.expert_tensors.begin(), arch.expert_tensors.end());
    for (const TensorName& t : tensors) {
      const std::string name = prefix + std::string(hf ? t.hf : t.gguf);
      if (t.need == Need::Optional && !src.has(name)) continue;
      const Shape s = shape_of(t.role, c);
      if (std::vector<MatrixView>* experts = experts_of(L, t.role)) {
        const size_t mark = name.find("{e}");
        if (mark == std::string::npos) {  // one tensor stacking them
          *experts = src.stacked(take(name), c.experts.count, s.rows, s.cols);
        } else {  // one tensor each
          for (int64_t e = 0; e < c.experts.count; ++e) {
            std::string each = name;
            each.replace(mark, 3, std::to_string(e));
            experts->push_back(src.matrix(take(each), s.rows, s.cols));
          }
        }
      } else if (t.role == LayerTensor::Wqkv) {
        const MatrixView m = src.matrix(take(name), s.rows, s.cols);
        const int64_t q = c.n_head * c.head_dim, k = c.n_head_kv * c.head_dim;
        L.wq = rows_of(m, 0, q);
        L.wk = rows_of(m, q, k);
        L.wv = rows_of(m, q + k, c.n_head_kv * c.value_dim);
      } else if (t.role == LayerTensor::GateUp) {
        const MatrixView m = src.matrix(take(name), s.rows, s.cols);
        L.w_gate = rows_of(m, 0, c.n_ff);
        L.w_up = rows_of(m, c.n_ff, c.n_ff);
      } else if (s.cols > 0) {
        assign(L, t.role, src.matrix(take(name), s.rows, s.cols), nullptr);
      } else {
        assign(L, t.role, {}, src.vector(take(name), s.rows, s.norm));
      }
    }
    model.layers.push_back(L);
  }
  for (const std::string& name : src.names()) {
    if (read.count(name) || (hf && derived_buffer(name))) continue;
    if (is_tied && name == g.output) continue;  // tied: the copy is the embedding
    throw Error(src.where() + ": tensor '" + name + "' is not one longctx's " +
                std::string(arch.name) +
                " recipe reads; running without it would run another model (not supported)");
  }
}

}  // namespace longctx
