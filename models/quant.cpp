#include "models/quant.h"

#include <array>
#include <string>

#include "support/error.h"

namespace longctx::quant {
namespace {

// Sizes from ggml's type traits (ggml/src/ggml.c, type_traits: blck_size and type_size). Types
// longctx does not decode are listed too, so a file that holds them is still read and described.
constexpr std::array kTypes = {
    TypeInfo{0, "F32", 1, 4, true},          TypeInfo{1, "F16", 1, 2, true},
    TypeInfo{2, "Q4_0", 32, 18, true},       TypeInfo{3, "Q4_1", 32, 20, true},
    TypeInfo{6, "Q5_0", 32, 22, true},       TypeInfo{7, "Q5_1", 32, 24, true},
    TypeInfo{8, "Q8_0", 32, 34, true},       TypeInfo{9, "Q8_1", 32, 36, false},
    TypeInfo{10, "Q2_K", 256, 84, true},     TypeInfo{11, "Q3_K", 256, 110, true},
    TypeInfo{12, "Q4_K", 256, 144, true},    TypeInfo{13, "Q5_K", 256, 176, true},
    TypeInfo{14, "Q6_K", 256, 210, true},    TypeInfo{15, "Q8_K", 256, 292, true},
    TypeInfo{16, "IQ2_XXS", 256, 66, false}, TypeInfo{17, "IQ2_XS", 256, 74, false},
    TypeInfo{18, "IQ3_XXS", 256, 98, false}, TypeInfo{19, "IQ1_S", 256, 50, false},
    TypeInfo{20, "IQ4_NL", 32, 18, false},   TypeInfo{21, "IQ3_S", 256, 110, false},
    TypeInfo{22, "IQ2_S", 256, 82, false},   TypeInfo{23, "IQ4_XS", 256, 136, false},
    TypeInfo{24, "I8", 1, 1, false},         TypeInfo{25, "I16", 1, 2, false},
    TypeInfo{26, "I32", 1, 4, false},        TypeInfo{27, "I64", 1, 8, false},
    TypeInfo{28, "F64", 1, 8, false},        TypeInfo{29, "IQ1_M", 256, 56, false},
    TypeInfo{30, "BF16", 1, 2, true},        TypeInfo{34, "TQ1_0", 256, 54, false},
    TypeInfo{35, "TQ2_0", 256, 66, false},   TypeInfo{39, "MXFP4", 32, 17, true},
};

}  // namespace

std::optional<TypeInfo> find_type(int32_t id) {
  for (const TypeInfo& t : kTypes) {
    if (t.id == id) return t;
  }
  return std::nullopt;
}

TypeInfo type_info(BlockType type) {
  auto info = find_type(static_cast<int32_t>(type));
  if (!info) throw Error("internal: block type " + std::to_string(int(type)) + " not in table");
  return *info;
}

std::span<const TypeInfo> all_types() {
  return kTypes;
}

int64_t row_bytes(const TypeInfo& type, int64_t elems) {
  return elems / type.block_elems * type.block_bytes;
}

void dequantize_row(BlockType type, const uint8_t* src, float* dst, int64_t elems) {
  TypeInfo info = type_info(type);
  if (!info.decodable) throw Error("tensor type " + std::string(info.name) + " is not supported");
  if (elems % info.block_elems != 0) {
    throw Error("row of " + std::to_string(elems) + " elements is not a whole number of " +
                std::string(info.name) + " blocks");
  }
  kernels::dequantize_blocks(type, src, dst, elems / info.block_elems);
}

}  // namespace longctx::quant
