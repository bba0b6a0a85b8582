// The safetensors reader on files built in memory: tensors, dtypes and metadata read back, and one
// clear error (file, field, byte offset) for each kind of damage.
#include <catch2/catch.hpp>
#include <cstring>

#include "models/safetensors.h"
#include "support/error.h"
#include "tests/safetensors_builder.h"

using namespace longctx;

namespace {
std::string error_of(std::vector<uint8_t> bytes) {
  try {
    safetensors::File::from_bytes("model.safetensors", std::move(bytes));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
std::vector<uint8_t> with_header(const std::string& json, size_t data_bytes = 0) {
  std::vector<uint8_t> out(8);
  uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  out.insert(out.end(), json.begin(), json.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}
}  // namespace

TEST_CASE("safetensors tensors, dtypes and metadata read back") {
  auto f = safetensors::File::from_bytes("s", test::sample_safetensors());
  REQUIRE(f.tensors().size() == 3);
  const auto* emb = f.find("model.embed_tokens.weight");
  REQUIRE(emb != nullptr);
  CHECK(emb->dtype == kernels::BlockType::F32);
  CHECK(emb->shape == std::vector<int64_t>{2, 3});
  CHECK(emb->data[1] == 7);
  CHECK(f.find("lm_head.weight")->dtype == kernels::BlockType::BF16);
  CHECK(f.find("model.norm.weight")->data == f.find("model.embed_tokens.weight")->data + 24);
  CHECK(f.metadata().at("format") == "pt");
}

TEST_CASE("damaged safetensors give one error naming field and offset") {
  auto good = test::sample_safetensors();
  SECTION("truncated at every byte of the first 16 and in the data") {
    for (size_t cut : {size_t(0), size_t(3), size_t(8), size_t(15), good.size() - 1}) {
      INFO("cut " << cut);
      std::vector<uint8_t> bad(good.begin(), good.begin() + long(cut));
      CHECK_THAT(error_of(bad),
                 Catch::Contains("model.safetensors: ") && Catch::Contains("byte offset"));
    }
  }
  SECTION("a header length beyond the file") {
    auto bad = good;
    uint64_t huge = uint64_t(1) << 40;
    std::memcpy(bad.data(), &huge, 8);
    CHECK_THAT(error_of(bad), Catch::Contains("header length at byte offset 0"));
  }
  SECTION("broken JSON points into the header") {
    CHECK_THAT(error_of(with_header("{\"a\": [1, 2")),
               Catch::Contains("header JSON at byte offset"));
    CHECK_THAT(error_of(with_header("[1, 2, 3]")), Catch::Contains("not a JSON object"));
  }
  SECTION("an unsupported dtype names the tensor") {
    auto bad = with_header(R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8);
    CHECK_THAT(error_of(bad),
               Catch::Contains("tensor 'w'") && Catch::Contains("I64 is not supported"));
  }
  SECTION("a shape that disagrees with the bytes") {
    auto bad = with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
    CHECK_THAT(error_of(bad), Catch::Contains("do not hold the 3 F32 values"));
  }
  SECTION("offsets outside the data and negative dims") {
    CHECK_THAT(
        error_of(with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8)),
        Catch::Contains("lie outside"));
    CHECK_THAT(error_of(with_header(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})")),
               Catch::Contains("negative"));
    CHECK_THAT(
        error_of(with_header(
            R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})")),
        Catch::Contains("overflows 64 bits"));
  }
  SECTION("overlapping tensors") {
    auto bad = with_header(
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
        12);
    CHECK_THAT(error_of(bad), Catch::Contains("overlaps"));
  }
}
