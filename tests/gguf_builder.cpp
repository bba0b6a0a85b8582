#include "tests/gguf_builder.h"

#include <random>

namespace longctx::test {

std::vector<uint8_t> rich_gguf(GgufBuilder* builder_out) {
  using VT = gguf::ValueType;
  GgufBuilder b;
  b.kv_string("general.architecture", "llama")
      .kv_string("general.name", "tiny test model")
      .kv("general.alignment", VT::UINT32, uint32_t{32})
      .kv("llama.context_length", VT::UINT64, uint64_t{256})
      .kv("llama.embedding_length", VT::UINT16, uint16_t{64})
      .kv("llama.block_count", VT::INT32, int32_t{2})
      .kv("llama.feed_forward_length", VT::UINT8, uint8_t{128})
      .kv("llama.attention.head_count", VT::INT64, int64_t{4})
      .kv("llama.attention.head_count_kv", VT::INT8, int8_t{2})
      .kv("llama.attention.layer_norm_rms_epsilon", VT::FLOAT32, 1e-5f)
      .kv("llama.rope.freq_base", VT::FLOAT64, 10000.0)
      .kv("test.int16", VT::INT16, int16_t{-300})
      .kv("test.bool", VT::BOOL, uint8_t{1})
      .kv_array("test.u8s", VT::UINT8, std::vector<uint8_t>{1, 2, 255})
      .kv_array("test.i8s", VT::INT8, std::vector<int8_t>{-1, 2, -128})
      .kv_array("test.u16s", VT::UINT16, std::vector<uint16_t>{1, 65535})
      .kv_array("test.i16s", VT::INT16, std::vector<int16_t>{-32768, 5})
      .kv_array("test.u32s", VT::UINT32, std::vector<uint32_t>{7, 4000000000u})
      .kv_array("test.i32s", VT::INT32, std::vector<int32_t>{-7, 3})
      .kv_array("test.u64s", VT::UINT64, std::vector<uint64_t>{1, uint64_t{1} << 63})
      .kv_array("test.i64s", VT::INT64, std::vector<int64_t>{-(int64_t{1} << 40), 9})
      .kv_array("test.f32s", VT::FLOAT32, std::vector<float>{0.5f, -2.0f})
      .kv_array("test.f64s", VT::FLOAT64, std::vector<double>{0.25, 1e300})
      .kv_array("test.bools", VT::BOOL, std::vector<uint8_t>{0, 1, 1})
      .kv_string_array("tokenizer.ggml.tokens",
                       {"<unk>", "<s>", "</s>", "a", "b", "", "\xe2\x96\x81x"})
      .kv_array("tokenizer.ggml.token_type", VT::INT32, std::vector<int32_t>{2, 3, 3, 1, 1, 1, 1})
      .kv_string("tokenizer.ggml.model", "llama")
      .kv("tokenizer.ggml.bos_token_id", VT::UINT32, uint32_t{1})
      .kv("tokenizer.ggml.eos_token_id", VT::UINT32, uint32_t{2});

  std::mt19937 rng(1234);
  auto random_bytes = [&](size_t n) {
    std::vector<uint8_t> v(n);
    for (auto& x : v) x = uint8_t(rng());
    return v;
  };
  b.tensor("token_embd.weight", 8 /*Q8_0*/, {64, 7}, random_bytes(7 * 2 * 34))
      .tensor("output_norm.weight", 0 /*F32*/, {64}, std::vector<uint8_t>(64 * 4, 0))
      .tensor("blk.0.attn_q.weight", 2 /*Q4_0*/, {64, 64}, random_bytes(64 * 2 * 18))
      .tensor("blk.0.ffn_up.weight", 12 /*Q4_K*/, {256, 2}, random_bytes(2 * 144))
      .tensor("blk.0.ffn_down.weight", 14 /*Q6_K*/, {256, 1}, random_bytes(210))
      .tensor("blk.1.attn_k.weight", 1 /*F16*/, {64, 32}, random_bytes(64 * 32 * 2));
  std::vector<uint8_t> bytes = b.build();
  if (builder_out) *builder_out = b;
  return bytes;
}

std::vector<uint8_t> gemma2_gguf(float attn_softcap, float final_softcap,
                                 GgufBuilder* builder_out) {
  using VT = gguf::ValueType;
  GgufBuilder b;
  b.kv_string("general.architecture", "gemma2")
      .kv("gemma2.context_length", VT::UINT32, uint32_t{256})
      .kv("gemma2.embedding_length", VT::UINT32, uint32_t{64})
      .kv("gemma2.block_count", VT::UINT32, uint32_t{2})
      .kv("gemma2.feed_forward_length", VT::UINT32, uint32_t{128})
      .kv("gemma2.attention.head_count", VT::UINT32, uint32_t{4})
      .kv("gemma2.attention.head_count_kv", VT::UINT32, uint32_t{2})
      .kv("gemma2.attention.key_length", VT::UINT32, uint32_t{16})
      .kv("gemma2.attention.value_length", VT::UINT32, uint32_t{16})
      .kv("gemma2.attention.layer_norm_rms_epsilon", VT::FLOAT32, 1e-6f)
      .kv("gemma2.attention.sliding_window", VT::UINT32, uint32_t{8})
      .kv("gemma2.attn_logit_softcapping", VT::FLOAT32, attn_softcap)
      .kv("gemma2.final_logit_softcapping", VT::FLOAT32, final_softcap);
  for (const char* name : {"blk.0.attn_norm.weight", "blk.1.attn_norm.weight"})
    b.tensor(name, 0, {64}, std::vector<uint8_t>(64 * 4));
  auto bytes = b.build();
  if (builder_out) *builder_out = b;
  return bytes;
}

}  // namespace longctx::test
