// The GGUF reader on files built in memory: every value type, the accessors' width rules, and
// one clear error (file, field, byte offset) for each kind of damage.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>

#include "models/config.h"
#include "models/gguf.h"
#include "models/gguf_config.h"
#include "support/error.h"
#include "tests/gguf_builder.h"

using namespace longctx;
using longctx::test::GgufBuilder;
using VT = gguf::ValueType;

namespace {

std::string error_of(std::vector<uint8_t> bytes) {
  try {
    gguf::File::from_bytes("test.gguf", std::move(bytes));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

template <typename T>
void put_at(std::vector<uint8_t>& bytes, size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}

}  // namespace

TEST_CASE("every metadata type reads back through the typed accessors") {
  auto f = gguf::File::from_bytes("rich.gguf", test::rich_gguf());
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.data_offset() % 32 == 0);
  CHECK(f.get_string("general.name") == "tiny test model");
  CHECK(f.get_int<int>("test.int16") == -300);
  CHECK(f.get_bool("test.bool"));
  CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon") == Approx(1e-5));
  CHECK(f.get_float("llama.rope.freq_base") == 10000.0);
  CHECK(f.get_int_array<int>("test.u8s") == std::vector<int>{1, 2, 255});
  CHECK(f.get_int_array<int>("test.i8s") == std::vector<int>{-1, 2, -128});
  CHECK(f.get_int_array<int64_t>("test.u32s") == std::vector<int64_t>{7, 4000000000});
  CHECK(f.get_int_array<uint64_t>("test.u64s")[1] == uint64_t{1} << 63);
  CHECK(f.get_int_array<int64_t>("test.i64s")[0] == -(int64_t{1} << 40));
  CHECK(f.get_float_array("test.f32s") == std::vector<float>{0.5f, -2.0f});
  CHECK(f.get_float_array("test.f64s")[0] == 0.25f);
  CHECK_THROWS_WITH(f.get_int_array<int>("test.bools"), Catch::Contains("expected an integer"));
}

TEST_CASE("integer accessors take any width that fits and name the key otherwise") {
  auto f = gguf::File::from_bytes("rich.gguf", test::rich_gguf());
  // Stored as UINT64, INT8, UINT16: all readable as the caller's type.
  CHECK(f.get_int<uint32_t>("llama.context_length") == 256);
  CHECK(f.get_int<int64_t>("llama.attention.head_count_kv") == 2);
  CHECK(f.get_int<uint8_t>("llama.embedding_length") == 64);
  // -300 does not fit an unsigned type or int8.
  CHECK_THROWS_WITH(f.get_int<uint32_t>("test.int16"),
                    Catch::Contains("'test.int16'") && Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(f.get_int<int8_t>("test.int16"), Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(f.get_int<int>("general.name"),
                    Catch::Contains("'general.name'") && Catch::Contains("STRING"));
  CHECK_THROWS_WITH(f.get_string("llama.block_count"), Catch::Contains("expected STRING"));
  CHECK_THROWS_WITH(f.get_int<int>("no.such.key"),
                    Catch::Contains("'no.such.key'") && Catch::Contains("missing"));
  CHECK_FALSE(f.find_int<int>("no.such.key").has_value());
  CHECK(f.get_float("llama.block_count") == 2.0);  // floats accept integers
}

TEST_CASE("the tensor table: shapes, types, sizes and in-place data") {
  auto f = gguf::File::from_bytes("rich.gguf", test::rich_gguf());
  REQUIRE(f.tensors().size() == 6);
  const auto& q = f.tensor("blk.0.attn_q.weight");
  CHECK(q.type.name == "Q4_0");
  CHECK(q.shape == std::vector<int64_t>{64, 64});
  CHECK(q.n_bytes == 64 * 2 * 18);
  CHECK(q.rows() == 64);
  CHECK(q.row_bytes() == 36);
  CHECK(q.data == f.bytes().data() + f.data_offset() + q.offset);
  CHECK(f.tensor("blk.0.ffn_down.weight").type.name == "Q6_K");
  CHECK_THROWS_WITH(f.tensor("missing.weight"), Catch::Contains("'missing.weight' is missing"));
}

TEST_CASE("config of a small llama file") {
  auto f = gguf::File::from_bytes("rich.gguf", test::rich_gguf());
  ModelConfig c = read_config(f);
  CHECK(c.arch->name == "llama");
  CHECK(c.n_layer == 2);
  CHECK(c.n_head == 4);
  CHECK(c.n_head_kv == 2);
  CHECK(c.head_dim == 16);
  CHECK(c.n_vocab == 7);
  CHECK(c.sliding_window == 0);
  CHECK(c.attention_scale == Approx(0.25f));
}

TEST_CASE("an unknown architecture is a clear error naming the supported ones") {
  GgufBuilder b;
  b.kv_string("general.architecture", "mamba");
  auto f = gguf::File::from_bytes("mamba.gguf", b.build());
  CHECK_THROWS_WITH(read_config(f),
                    Catch::Contains("unknown architecture 'mamba'") &&
                        Catch::Contains("llama, qwen2, qwen3, qwen3moe, phi3, gemma2, gemma3"));
}

// Gemma 2's soft-caps: read when positive, refused by key otherwise (a cap of 0 would divide by
// zero; a negative one flips the scores' sign).
TEST_CASE("Gemma 2 soft-caps are read, and refused by key when not positive") {
  using VT = gguf::ValueType;
  auto config_with = [](float attn, float final) {
    return read_config(gguf::File::from_bytes("gemma2.gguf", test::gemma2_gguf(attn, final)));
  };
  const ModelConfig c = config_with(50.0f, 30.0f);
  CHECK(c.attn_softcap == 50.0f);
  CHECK(c.final_softcap == 30.0f);
  // Local layers first, alternating (llama.cpp's set_swa_pattern(2)).
  CHECK(c.layer_is_local == std::vector<bool>{true, false});
  CHECK_THROWS_WITH(config_with(0.0f, 30.0f),
                    Catch::Contains("gemma2.gguf") &&
                        Catch::Contains("gemma2.attn_logit_softcapping") &&
                        Catch::Contains("must be a positive number"));
  CHECK_THROWS_WITH(config_with(50.0f, -1.0f),
                    Catch::Contains("gemma2.final_logit_softcapping") &&
                        Catch::Contains("must be a positive number, got -1"));
}

TEST_CASE("rope scalings are read or refused by key, never run unscaled") {
  using VT = gguf::ValueType;
  auto config_with = [](const std::function<void(GgufBuilder&)>& add) {
    GgufBuilder b;
    test::rich_gguf(&b);
    add(b);
    return read_config(gguf::File::from_bytes("rope.gguf", b.build()));
  };
  const ModelConfig yarn = config_with([&](GgufBuilder& b) {
    b.kv_string("llama.rope.scaling.type", "yarn")
        .kv("llama.rope.scaling.factor", VT::FLOAT32, 4.0f)
        .kv("llama.rope.scaling.original_context_length", VT::UINT32, uint32_t{64});
  });
  CHECK(yarn.rope_scaling.type == RopeScalingType::Yarn);
  CHECK(yarn.rope_scaling.attention_factor == Approx(0.1 * std::log(4.0) + 1.0));
  // The factor multiplies the rotated dimensions of q and k (each layer's rotation), not the
  // scale of q.k, which would reach the dimensions partial rotation leaves alone.
  CHECK(yarn.attention_scale == Approx(0.25).epsilon(1e-6));
  CHECK(yarn.layer_rope(0, 256).amplitude == Approx(1.138629436).epsilon(1e-6));
  CHECK_THROWS_WITH(
      config_with([&](GgufBuilder& b) { b.kv_string("llama.rope.scaling.type", "longrope"); }),
      Catch::Contains("llama.rope.scaling.type") && Catch::Contains("longrope"));
  CHECK_THROWS_WITH(config_with([&](GgufBuilder& b) {
                      b.kv_string("llama.rope.scaling.type", "yarn")
                          .kv("llama.rope.scaling.factor", VT::FLOAT32, 4.0f)
                          .kv("llama.rope.scaling.original_context_length", VT::UINT32,
                              uint32_t{64})
                          .kv("llama.rope.scaling.yarn_log_multiplier", VT::FLOAT32, 0.1f);
                    }),
                    Catch::Contains("llama.rope.scaling.yarn_log_multiplier"));
  CHECK_THROWS_WITH(
      config_with([&](GgufBuilder& b) { b.kv_string("llama.rope.scaling.type", "yarn"); }),
      Catch::Contains("original_context_length"));
}

TEST_CASE("damaged headers give one error naming the field and offset") {
  GgufBuilder b;
  auto good = test::rich_gguf(&b);

  SECTION("magic") {
    auto bad = good;
    bad[0] = 'X';
    CHECK_THAT(error_of(bad), Catch::Contains("test.gguf: magic at byte offset 0"));
  }
  SECTION("version 1 and 4") {
    auto bad = good;
    put_at<uint32_t>(bad, 4, 1);
    CHECK_THAT(error_of(bad), Catch::Contains("v1 is not supported"));
    put_at<uint32_t>(bad, 4, 4);
    CHECK_THAT(error_of(bad), Catch::Contains("version at byte offset 4"));
  }
  SECTION("v2 reads like v3") {
    auto v2 = good;
    put_at<uint32_t>(v2, 4, 2);
    CHECK(gguf::File::from_bytes("v2", v2).version() == 2);
  }
  SECTION("huge tensor and metadata counts") {
    auto bad = good;
    put_at<uint64_t>(bad, 8, uint64_t{1} << 60);
    CHECK_THAT(error_of(bad), Catch::Contains("tensor count at byte offset 8"));
    bad = good;
    put_at<uint64_t>(bad, 16, ~uint64_t{0});
    CHECK_THAT(error_of(bad), Catch::Contains("metadata count at byte offset 16"));
  }
  SECTION("a string length past the end") {
    auto bad = good;
    put_at<uint64_t>(bad, 24, uint64_t{1} << 40);  // the first key's length
    CHECK_THAT(error_of(bad),
               Catch::Contains("at byte offset 24") && Catch::Contains("exceeds the"));
  }
  SECTION("truncation at every field boundary") {
    for (size_t cut : b.boundaries()) {
      if (cut >= good.size()) continue;
      std::vector<uint8_t> bad(good.begin(), good.begin() + long(cut));
      std::string err = error_of(bad);
      INFO("cut at " << cut);
      CHECK_THAT(err, Catch::Contains("test.gguf: ") && Catch::Contains("byte offset"));
    }
  }
  SECTION("an unknown value type and a nested array") {
    auto bad = good;
    size_t tag = b.tag_fields()[0];
    put_at<int32_t>(bad, tag, 13);
    CHECK_THAT(error_of(bad), Catch::Contains("unknown value type 13"));
  }
}

TEST_CASE("tensor infos are checked against the file") {
  auto one_tensor = [](int32_t type, std::vector<int64_t> shape, size_t data_bytes) {
    GgufBuilder b;
    b.tensor("w", type, std::move(shape), std::vector<uint8_t>(data_bytes, 0));
    return b;
  };
  SECTION("an unknown tensor type") {
    auto b = one_tensor(99, {32}, 32);
    CHECK_THAT(error_of(b.build()),
               Catch::Contains("tensor 'w' type") && Catch::Contains("unknown tensor type 99"));
  }
  SECTION("a row that is not a whole number of blocks") {
    auto b = one_tensor(2 /*Q4_0*/, {31}, 18);
    CHECK_THAT(error_of(b.build()), Catch::Contains("not a multiple of the Q4_0 block size"));
  }
  SECTION("dimensions whose product overflows") {
    auto b = one_tensor(0, {int64_t{1} << 40, int64_t{1} << 40}, 4);
    CHECK_THAT(error_of(b.build()), Catch::Contains("overflows 64 bits"));
  }
  SECTION("five dimensions") {
    auto b = one_tensor(0, {1, 1, 1, 1, 1}, 4);
    CHECK_THAT(error_of(b.build()), Catch::Contains("5 dimensions"));
  }
  SECTION("data that runs past the end of the file") {
    auto b = one_tensor(0, {1000}, 4);  // declares 4000 bytes, holds 4
    CHECK_THAT(error_of(b.build()),
               Catch::Contains("tensor 'w' data") && Catch::Contains("outside the file"));
  }
  SECTION("an offset off the alignment") {
    auto b = one_tensor(0, {8}, 32);
    auto bytes = b.build();
    // header 24 + name (8 + 1) + n_dims 4 + ne 8 + type 4: the offset field starts at 49.
    size_t offset_field = 49;
    put_at<uint64_t>(bytes, offset_field, 4);
    CHECK_THAT(error_of(bytes), Catch::Contains("not a multiple of the alignment"));
  }
  SECTION("a bad alignment") {
    GgufBuilder b;
    b.kv("general.alignment", VT::UINT32, uint32_t{24});
    CHECK_THAT(error_of(b.build(3, 32)), Catch::Contains("not a power of two"));
  }
  SECTION("overlapping tensors") {
    GgufBuilder b;
    b.tensor("a", 0, {8}, std::vector<uint8_t>(32, 0))
        .tensor("b", 0, {8}, std::vector<uint8_t>(32, 0));
    auto bytes = b.build();
    // Point b at a's data.
    size_t b_offset_field = 0;
    for (size_t k = 0; k + 8 <= bytes.size(); ++k) {
      uint64_t v;
      std::memcpy(&v, bytes.data() + k, 8);
      if (v == 32) b_offset_field = k;  // the only u64 holding 32 is b's offset
    }
    REQUIRE(b_offset_field > 0);
    put_at<uint64_t>(bytes, b_offset_field, 0);
    CHECK_THAT(error_of(bytes), Catch::Contains("overlaps"));
  }
  SECTION("duplicate keys and tensor names") {
    GgufBuilder b;
    b.kv_string("k", "x").kv_string("k", "y");
    CHECK_THAT(error_of(b.build()), Catch::Contains("duplicate key"));
    GgufBuilder c;
    c.tensor("w", 0, {8}, std::vector<uint8_t>(32, 0))
        .tensor("w", 0, {8}, std::vector<uint8_t>(32, 0));
    CHECK_THAT(error_of(c.build()), Catch::Contains("duplicate tensor name"));
  }
}

// Values of the right type outside their range: refused naming the key (the same validation as
// config.json's), never run. Each case replaces one key of a valid header.
TEST_CASE("hostile values of the right type in GGUF metadata are refused by key") {
  using VT = gguf::ValueType;
  const double nan = std::nan(""), inf = INFINITY;
  struct Case {
    std::string arch, key;
    std::function<void(GgufBuilder&)> add;
    std::string expect;
  };
  auto f32 = [](const std::string& key, float v) {
    return [=](GgufBuilder& b) { b.kv(key, VT::FLOAT32, v); };
  };
  auto i32 = [](const std::string& key, int32_t v) {
    return [=](GgufBuilder& b) { b.kv(key, VT::INT32, v); };
  };
  std::vector<Case> cases;
  for (double v : {0.0, -10000.0, nan, inf, 1e30, 1.0})
    cases.push_back({"llama", "llama.rope.freq_base", f32("llama.rope.freq_base", float(v)),
                     "must be a number above 1 and up to 1e15"});
  for (double v : {0.0, -1e-5, nan, inf, 1e10})
    cases.push_back({"llama", "llama.attention.layer_norm_rms_epsilon",
                     f32("llama.attention.layer_norm_rms_epsilon", float(v)),
                     "must be a number in (0, 1)"});
  for (double v : {-2.0, nan, inf}) {
    cases.push_back({"llama", "llama.rope.scaling.factor",
                     [=](GgufBuilder& b) {
                       b.kv_string("llama.rope.scaling.type", "linear")
                           .kv("llama.rope.scaling.factor", VT::FLOAT32, float(v));
                     },
                     "must be a positive number"});
  }
  cases.push_back({"llama", "llama.rope.scaling.original_context_length",
                   [](GgufBuilder& b) {
                     b.kv_string("llama.rope.scaling.type", "yarn")
                         .kv("llama.rope.scaling.factor", VT::FLOAT32, 4.0f)
                         .kv("llama.rope.scaling.original_context_length", VT::INT32, int32_t{0});
                   },
                   "must be a positive length, got 0"});
  cases.push_back({"llama", "llama.attention.scale", f32("llama.attention.scale", float(nan)),
                   "must be a positive number"});
  cases.push_back({"llama", "llama.attention.sliding_window",
                   i32("llama.attention.sliding_window", -8), "must be a positive width, got -8"});
  for (int32_t v : {0, -8})
    cases.push_back({"gemma2", "gemma2.attention.sliding_window",
                     i32("gemma2.attention.sliding_window", v), "must be a positive width"});
  cases.push_back({"gemma2", "gemma2.attention.sliding_window_pattern",
                   i32("gemma2.attention.sliding_window_pattern", 0),
                   "must be a positive period, got 0"});
  cases.push_back({"gemma2", "gemma2.rope.freq_base_swa", f32("gemma2.rope.freq_base_swa", 0.0f),
                   "must be a number above 1"});
  for (const Case& c : cases) {
    GgufBuilder b;
    if (c.arch == "llama")
      test::rich_gguf(&b);
    else
      test::gemma2_gguf(50.0f, 30.0f, &b);
    b.erase(c.key);
    c.add(b);
    INFO(c.key);
    CHECK_THROWS_WITH(read_config(gguf::File::from_bytes("hostile.gguf", b.build())),
                      Catch::Contains("hostile.gguf") && Catch::Contains("'" + c.key + "'") &&
                          Catch::Contains(c.expect));
  }
  // llama.cpp's "not set" values stay accepted: a factor of 0, a scale of 0, a window of 0 on an
  // architecture whose layers need none (Phi-4's converter writes 0).
  using Add = std::function<void(GgufBuilder&)>;
  for (const Add& add :
       {Add(f32("llama.rope.scaling.factor", 0.0f)), Add(f32("llama.attention.scale", 0.0f)),
        Add(i32("llama.attention.sliding_window", 0))}) {
    GgufBuilder b;
    test::rich_gguf(&b);
    add(b);
    CHECK_NOTHROW(read_config(gguf::File::from_bytes("unset.gguf", b.build())));
  }
}

// Routed experts as llama.cpp's converter writes them (Mixtral: llama with expert keys), and the
// variants of llama.cpp's MoE graph longctx does not run, refused by key.
TEST_CASE("expert keys are read, and the MoE variants longctx does not run are refused by key") {
  using VT = gguf::ValueType;
  using Add = std::function<void(GgufBuilder&)>;
  auto u32 = [](const std::string& key, uint32_t v) -> Add {
    return [=](GgufBuilder& b) { b.kv(key, VT::UINT32, v); };
  };
  auto config_with = [](const std::vector<Add>& adds) {
    GgufBuilder b;
    test::rich_gguf(&b);
    for (const Add& add : adds) add(b);
    return read_config(gguf::File::from_bytes("moe.gguf", b.build()));
  };
  const Add eight = u32("llama.expert_count", 8), two = u32("llama.expert_used_count", 2);
  const ModelConfig c = config_with({eight, two});
  CHECK((c.experts.count == 8 && c.experts.used == 2 && c.experts.renormalize));
  CHECK(c.experts.n_ff == c.n_ff);  // llama's experts are feed_forward_length wide
  CHECK(config_with({eight, two, u32("llama.expert_feed_forward_length", 48)}).experts.n_ff == 48);
  CHECK_FALSE(config_with({}).routed());
  struct Case {
    std::vector<Add> adds;
    std::string key, expect;
  };
  const Case cases[] = {
      {{eight, u32("llama.expert_used_count", 0)}, "llama.expert_used_count", "must be 1 to 8"},
      {{eight, u32("llama.expert_used_count", 9)}, "llama.expert_used_count", "must be 1 to 8"},
      {{u32("llama.expert_count", 5000), two}, "llama.expert_count", "must be 1 to 1024"},
      {{two}, "llama.expert_used_count", "is set without experts"},
      {{eight}, "llama.expert_used_count", "missing"},
      {{eight, two, u32("llama.expert_feed_forward_length", 0)},
       "llama.expert_feed_forward_length",
       "must be positive"},
      {{eight, two, u32("llama.expert_gating_func", 2)},
       "llama.expert_gating_func",
       "longctx routes by softmax (1) only"},
      {{eight, two, u32("llama.expert_shared_count", 1)},
       "llama.expert_shared_count",
       "does not implement it"},
      {{eight, two, u32("llama.expert_group_count", 4)},
       "llama.expert_group_count",
       "does not implement it"},
      {{eight, two, [](GgufBuilder& b) { b.kv("llama.expert_weights_scale", VT::FLOAT32, 2.5f); }},
       "llama.expert_weights_scale",
       "does not implement it"},
      {{eight, two, [](GgufBuilder& b) { b.kv("llama.expert_weights_norm", VT::BOOL, false); }},
       "llama.expert_weights_norm",
       "llama.cpp renormalises"},
  };
  for (const Case& k : cases) {
    INFO(k.key << ": " << k.expect);
    CHECK_THROWS_WITH(config_with(k.adds), Catch::Contains("moe.gguf") && Catch::Contains(k.key) &&
                                               Catch::Contains(k.expect));
  }
}
