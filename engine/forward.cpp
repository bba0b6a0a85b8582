// One chunk of tokens through the model: the layer recipe, written once for every architecture
// and every backend. It reads the architecture's row (models/architecture.h) and which weights the
// model has; the Backend computes each operation where its memory lives; the attention policy
// steps in between (Session::attention_step). Shapes are per chunk of n tokens.
#include <cmath>

#include "engine/session.h"

namespace longctx {

void Session::forward_chunk(const int32_t* tokens, int64_t n, float* logits_out, bool want_logits,
                            bool prompt_end) {
  const ModelConfig& c = model_.config;
  const ArchInfo& arch = *c.arch;
  Backend& ops = *backend_;
  const int64_t d = c.n_embd, hd = c.head_dim;
  const int64_t q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd, v_dim = c.n_head_kv * c.value_dim;
  const float eps = float(c.rms_eps);
  for (int64_t t = 0; t < n; ++t) pos_[size_t(t)] = int32_t(n_past_ + t);

  ops.embed(tokens, n);  // X [n][d]
  if (arch.embedding_scale) ops.scale(Act::X, std::sqrt(float(d)), n * d);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const LayerWeights& L = model_.layers[size_t(il)];
    // Attention: norm, projections, biases, per-head norms, rotation, cache.
    ops.rms_norm(Act::X, L.attn_norm, eps, n, d, Act::H);  // H [n][d]
    const Product qkv[] = {{&L.wq, Act::Q}, {&L.wk, Act::K}, {&L.wv, Act::V}};
    ops.matmul(qkv, Act::H, n);  // Q [n][n_head * hd], K [n][n_head_kv * hd], V [n][n_head_kv * vd]
    if (L.bq) ops.add_bias(Act::Q, L.bq, n, q_dim);
    if (L.bk) ops.add_bias(Act::K, L.bk, n, kv_dim);
    if (L.bv) ops.add_bias(Act::V, L.bv, n, v_dim);
    if (L.q_norm) ops.rms_norm(Act::Q, L.q_norm, eps, n * c.n_head, hd, Act::Q);
    if (L.k_norm) ops.rms_norm(Act::K, L.k_norm, eps, n * c.n_head_kv, hd, Act::K);
    // Positions inside this layer's cache: lower than the token's by what eviction shifted out.
    for (int64_t t = 0; t < n; ++t)
      layer_pos_[size_t(t)] = pos_[size_t(t)] - int32_t(shift_[size_t(il)]);
    ops.rope(Act::Q, il, n, c.n_head, layer_pos_.data());
    ops.rope(Act::K, il, n, c.n_head_kv, layer_pos_.data());
    const int64_t slot = book_.append(il, n, layer_pos_.data());  // n slots per KV head
    ops.kv_append(il, slot, n, layer_pos_.data());                // their rows
    attention_step(il, n, prompt_end);  // Attn [n][n_head * vd]: plan, attend, evict
    const Product wo[] = {{&L.wo, Act::O}};
    ops.matmul(wo, Act::Attn, n);  // O [n][d]
    if (L.post_attn_norm) ops.rms_norm(Act::O, L.post_attn_norm, eps, n, d, Act::O);
    ops.add(Act::X, Act::O, n * d);

    // Feed-forward: norm, then the dense gated FFN or the routed experts.
    ops.rms_norm(Act::X, L.ffn_norm, eps, n, d, Act::H);
    if (c.routed()) {
      const Product router[] = {{&L.router, Act::Router}};
      ops.matmul(router, Act::H, n);  // Router [n][experts]
      ops.route(n);
      ops.experts(L, arch.activation, n);  // O [n][d]
    } else {
      const Product gate_up[] = {{&L.w_gate, Act::Gate}, {&L.w_up, Act::Up}};
      ops.matmul(gate_up, Act::H, n);                     // Gate, Up [n][n_ff]
      ops.gated_activation(arch.activation, n * c.n_ff);  // Gate = act(Gate) * Up
      const Product down[] = {{&L.w_down, Act::O}};
      ops.matmul(down, Act::Gate, n);  // O [n][d]
    }
    if (L.post_ffn_norm) ops.rms_norm(Act::O, L.post_ffn_norm, eps, n, d, Act::O);
    ops.add(Act::X, Act::O, n * d);
  }
  n_past_ += n;
  ++steps_;
  if (!want_logits) return;
  // Logits of the last token only, unless the caller wants every position (perplexity).
  const int64_t first = logits_.size() > size_t(c.n_vocab) ? 0 : n - 1;
  ops.rms_norm(Act::X, model_.output_norm, eps, n, d, Act::H);
  ops.output(Act::H, first, n, logits_out);  // [n - first][n_vocab]
  if (c.final_softcap > 0) {                 // Gemma 2: cap * tanh(logit / cap), on the host
    const float cap = c.final_softcap;
    for (int64_t i = 0; i < (n - first) * c.n_vocab; ++i)
      logits_out[i] = cap * std::tanh(logits_out[i] / cap);
  }
}

}  // namespace longctx
