// Block formats against the `gguf` Python package: raw blocks and the floats gguf's dequantizer
// made of them (tests/fixtures/quant, written by scripts/fixtures/make_quant_fixtures.py).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "kernels/common/block_pieces.h"
#include "kernels/common/blocks.h"
#include "kernels/common/fp16.h"
#include "kernels/common/kv_rows.h"
#include "kernels/cpu/vec.h"
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
  const char* types[] = {"F32",  "F16",  "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                         "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "MXFP4"};
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

TEST_CASE("32-element pieces of a block decode as the whole block does, bit for bit") {
  for (const char* name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                           "Q6_K", "Q8_K", "MXFP4"}) {
    INFO(name);
    const quant::TypeInfo* info = nullptr;
    for (const auto& t : quant::all_types()) {
      if (t.name == name) info = &t;
    }
    REQUIRE(info != nullptr);
    const auto type = kernels::BlockType(info->id);
    REQUIRE(kernels::pieces_per_block(type) * kernels::kPiece == info->block_elems);
    std::vector<uint8_t> blocks = test::read_fixture(std::string("quant/") + name + ".blocks");
    const int64_t n_blocks = int64_t(blocks.size()) / info->block_bytes;
    std::vector<float> whole(static_cast<size_t>(info->block_elems));
    float piece[kernels::kPiece];
    for (int64_t b = 0; b < n_blocks; ++b) {
      const uint8_t* block = blocks.data() + b * info->block_bytes;
      REQUIRE(kernels::dequantize_blocks(type, block, whole.data(), 1));
      for (int p = 0; p < kernels::pieces_per_block(type); ++p) {
        REQUIRE(kernels::dequantize_piece(type, block, p, piece));
        REQUIRE(std::memcmp(piece, whole.data() + p * kernels::kPiece, sizeof piece) == 0);
      }
    }
  }
  float y[kernels::kPiece];
  CHECK_FALSE(kernels::dequantize_piece(kernels::BlockType::F16, nullptr, 0, y));
  CHECK(kernels::pieces_per_block(kernels::BlockType::F32) == 0);
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

TEST_CASE("an f16 KV row decodes element by element as it does whole") {
  std::vector<float> x(64), y(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::ldexp(float(i) - 31.7f, int(i % 9) - 4);
  std::vector<uint8_t> row(size_t(kernels::kv_row_bytes(kernels::KvType::F16, 64)));
  kernels::encode_kv_row(kernels::KvType::F16, x.data(), row.data(), 64);
  kernels::decode_kv_row(kernels::KvType::F16, row.data(), y.data(), 64);
  for (int64_t i = 0; i < 64; ++i) {
    const float e = kernels::kv_element(kernels::KvType::F16, row.data(), i);
    REQUIRE(std::memcmp(&e, &y[size_t(i)], sizeof e) == 0);
  }
}

TEST_CASE("KV rows quantize like gguf's q8_0 / q4_0 and round-trip within the format's error") {
  for (auto [type, name] :
       {std::pair{kernels::KvType::Q8_0, "Q8_0"}, std::pair{kernels::KvType::Q4_0, "Q4_0"}}) {
    std::vector<uint8_t> in = test::read_fixture(std::string("quant/kv_") + name + ".in.f32");
    std::vector<uint8_t> expected = test::read_fixture(std::string("quant/kv_") + name + ".blocks");
    const int64_t dim = 64, rows = int64_t(in.size()) / (dim * 4);
    const int64_t rb = kernels::kv_row_bytes(type, dim);
    REQUIRE(int64_t(expected.size()) == rows * rb);
    std::vector<float> x(static_cast<size_t>(rows * dim)), y(static_cast<size_t>(dim));
    std::memcpy(x.data(), in.data(), in.size());
    std::vector<uint8_t> row(static_cast<size_t>(rb));
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * dim;
      kernels::encode_kv_row(type, xr, row.data(), dim);
      CHECK(std::equal(row.begin(), row.end(), expected.begin() + r * rb));
      kernels::decode_kv_row(type, row.data(), y.data(), dim);
      std::vector<float> fast(static_cast<size_t>(dim));  // the attention path's SIMD decoder
      if (type == kernels::KvType::Q8_0) {
        cpu::q8_0_to_f32_row(row.data(), fast.data(), dim);
      } else {
        cpu::q4_0_to_f32_row(row.data(), fast.data(), dim);
      }
      CHECK(std::memcmp(fast.data(), y.data(), y.size() * sizeof(float)) == 0);
      // Element by element (the CUDA tile loader's decoder), bit for bit the same.
      for (int64_t i = 0; i < dim; ++i) {
        const float e = kernels::kv_element(type, row.data(), i);
        REQUIRE(std::memcmp(&e, &y[size_t(i)], sizeof e) == 0);
      }
      for (int64_t b = 0; b < dim / 32; ++b) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xr[b * 32 + j]));
        // q8_0: half a step of amax/127; q4_0: one step of amax/8 (the clamp at +7 on the side
        // opposite the extreme); both widened for the half-precision scale.
        // The scale's own rounding adds up to |q| * d * 2^-11 (|q| <= 127 or 8).
        float bound = type == kernels::KvType::Q8_0 ? amax / 127 * (0.5f + 127.0f / 2048)
                                                    : amax / 8 * (1.0f + 8.0f / 2048);
        for (int j = 0; j < 32; ++j)
          CHECK(std::fabs(y[size_t(b * 32 + j)] - xr[b * 32 + j]) <= bound * 1.0001f + 1e-7f);
      }
    }
  }
}
