// Block formats against the `gguf` Python package: raw blocks and the floats gguf's dequantizer
// made of them (tests/fixtures/quant, written by scripts/fixtures/make_quant_fixtures.py).
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <iterator>

#include "kernels/common/blocks.h"
#include "kernels/common/fp16.h"
#include "models/quant.h"
#include "tests/fixtures.h"

using namespace longctx;

TEST_CASE("the type table agrees with the block structs") {
  for (const quant::TypeInfo& t : quant::all_types()) {
    if (!t.decodable) continue;
    auto shape = kernels::block_shape(kernels::BlockType(t.id));
    INFO(t.name);
    CHECK(shape.elems == t.block_elems);
    CHECK(shape.bytes == t.block_bytes);
  }
  CHECK(quant::find_type(12)->name == "Q4_K");
  CHECK_FALSE(quant::find_type(4).has_value());  // Q4_2, removed from ggml
}

TEST_CASE("dequantization equals the gguf package bit for bit") {
  const char* types[] = {"F32",  "F16",  "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                         "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"};
  for (const char* name : types) {
    INFO(name);
    std::vector<uint8_t> blocks = test::read_fixture(std::string("quant/") + name + ".blocks");
    std::vector<uint8_t> expected_bytes = test::read_fixture(std::string("quant/") + name + ".f32");
    const quant::TypeInfo* info = nullptr;
    for (const auto& t : quant::all_types()) {
      if (t.name == name) info = &t;
    }
    REQUIRE(info != nullptr);
    REQUIRE(blocks.size() % size_t(info->block_bytes) == 0);
    int64_t elems = int64_t(blocks.size()) / info->block_bytes * info->block_elems;
    REQUIRE(expected_bytes.size() == size_t(elems) * 4);
    std::vector<float> got(static_cast<size_t>(elems));
    quant::dequantize_row(kernels::BlockType(info->id), blocks.data(), got.data(), elems);
    size_t mismatches = 0;
    for (int64_t i = 0; i < elems; ++i) {
      uint32_t want, have;
      std::memcpy(&want, expected_bytes.data() + 4 * i, 4);
      std::memcpy(&have, &got[size_t(i)], 4);
      if (want != have && mismatches++ < 5) {
        UNSCOPED_INFO("element " << i << ": gguf " << test::bits_float(want) << " ours "
                                 << got[size_t(i)]);
      }
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("float to half and bfloat16 round like numpy and ggml") {
  // fp16_narrowing.bin: N float32 inputs, then N uint16 halves (numpy astype(float16)), then N
  // uint16 bfloat16 (gguf's BF16 quantizer).
  std::vector<uint8_t> bytes = test::read_fixture("quant/narrowing.bin");
  size_t n = bytes.size() / 8;
  REQUIRE(n > 1000);
  size_t bad_half = 0, bad_bf16 = 0;
  for (size_t i = 0; i < n; ++i) {
    float x;
    uint16_t half, bf16;
    std::memcpy(&x, bytes.data() + 4 * i, 4);
    std::memcpy(&half, bytes.data() + 4 * n + 2 * i, 2);
    std::memcpy(&bf16, bytes.data() + 6 * n + 2 * i, 2);
    if (kernels::float_to_fp16(x) != half && bad_half++ < 5) {
      UNSCOPED_INFO("half of " << x << ": numpy " << half << " ours " << kernels::float_to_fp16(x));
    }
    if (kernels::float_to_bf16(x) != bf16 && bad_bf16++ < 5) {
      UNSCOPED_INFO("bf16 of " << x << ": gguf " << bf16 << " ours " << kernels::float_to_bf16(x));
    }
    // Widening back is exact for every half.
    if (kernels::float_to_fp16(kernels::fp16_to_float(half)) != half &&
        !std::isnan(kernels::fp16_to_float(half))) {
      ++bad_half;
    }
  }
  CHECK(bad_half == 0);
  CHECK(bad_bf16 == 0);
}

TEST_CASE("rows that are not whole blocks and undecodable types are errors") {
  std::vector<uint8_t> block(18, 0);
  float out[32];
  CHECK_THROWS_WITH(quant::dequantize_row(kernels::BlockType::Q4_0, block.data(), out, 31),
                    Catch::Contains("not a whole number of Q4_0 blocks"));
}
