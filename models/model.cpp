#include "models/model.h"

#include <filesystem>

#include "kernels/common/attention_args.h"
#include "support/error.h"

namespace longctx {

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
  return load_gguf_model(path);
}

}  // namespace longctx
