// GGUF v2/v3 reader: metadata of every value type, the tensor table, and tensor data viewed in
// place from an mmap. Everything is validated when the file is opened; a bad file raises one
// longctx::Error naming the file, the field and its byte offset.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "models/quant.h"
#include "support/byte_source.h"

namespace longctx::gguf {

enum class ValueType : int32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

std::string_view type_name(ValueType type);
bool is_integer(ValueType type);
bool is_float(ValueType type);

// One metadata value. Scalars are decoded; arrays keep a view of their elements in the file.
struct Value {
  ValueType type = ValueType::UINT8;
  uint64_t offset = 0;  // byte offset of the value's type tag, for error messages
  // Scalars: integers in `u` (non-negative) or `i`, booleans in `b`, floats in `f`.
  bool negative = false;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  bool b = false;
  std::string_view str;
  // Arrays.
  ValueType elem_type = ValueType::UINT8;
  uint64_t count = 0;
  const uint8_t* elems = nullptr;         // numeric/bool elements, packed little-endian
  std::vector<std::string_view> strings;  // string elements

  // Element k of a numeric array as a scalar Value (for uniform conversion).
  Value element(uint64_t k) const;
};

struct TensorInfo {
  std::string name;
  quant::TypeInfo type;
  std::vector<int64_t> shape;  // ne: shape[0] is the contiguous axis
  int64_t n_elems = 0;
  int64_t n_bytes = 0;
  uint64_t offset = 0;       // relative to the data section
  uint64_t info_offset = 0;  // byte offset of this tensor's info record in the file
  const uint8_t* data = nullptr;

  int64_t row_elems() const { return shape.empty() ? 1 : shape[0]; }
  int64_t rows() const { return row_elems() == 0 ? 0 : n_elems / row_elems(); }
  int64_t row_bytes() const { return quant::row_bytes(type, row_elems()); }
};

class File {
 public:
  // Maps and validates the file at `path`.
  static File open(const std::string& path);
  // Validates bytes held in memory (tests, fuzzing); `source` names them in errors.
  static File from_bytes(std::string source, std::vector<uint8_t> bytes);

  const std::string& source() const { return source_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }
  std::span<const uint8_t> bytes() const { return bytes_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const Value* find(std::string_view key) const;
  const TensorInfo* find_tensor(std::string_view name) const;
  const TensorInfo& tensor(std::string_view name) const;  // throws when absent

  // Typed accessors. Integers of any stored width are accepted when the value fits in T; a float
  // accessor also takes integers. A missing key or a value of the wrong kind throws an error
  // naming the key.
  template <std::integral T>
  T get_int(std::string_view key) const {
    return to_int<T>(key, require(key));
  }
  template <std::integral T>
  std::optional<T> find_int(std::string_view key) const {
    const Value* v = find(key);
    return v ? std::optional<T>(to_int<T>(key, *v)) : std::nullopt;
  }
  double get_float(std::string_view key) const { return to_float(key, require(key)); }
  std::optional<double> find_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;
  std::string_view get_string(std::string_view key) const;
  std::optional<std::string_view> find_string(std::string_view key) const;
  std::span<const std::string_view> get_string_array(std::string_view key) const;
  template <std::integral T>
  std::vector<T> get_int_array(std::string_view key) const {
    const Value& v = require_array(key);
    std::vector<T> out;
    out.reserve(v.count);
    for (uint64_t k = 0; k < v.count; ++k) out.push_back(to_int<T>(key, v.element(k)));
    return out;
  }
  std::vector<float> get_float_array(std::string_view key) const;

  [[noreturn]] void fail_key(std::string_view key, const Value* v, const std::string& why) const;

 private:
  File(std::string source, ByteSource bytes)
      : source_(std::move(source)), data_(std::move(bytes)), bytes_(data_.bytes()) {}
  void parse();
  const Value& require(std::string_view key) const;
  const Value& require_array(std::string_view key) const;
  double to_float(std::string_view key, const Value& v) const;

  template <std::integral T>
  T to_int(std::string_view key, const Value& v) const {
    if (!is_integer(v.type)) {
      fail_key(key, &v, "holds " + std::string(type_name(v.type)) + ", expected an integer");
    }
    bool fits = v.negative ? (std::is_signed_v<T> && v.i >= int64_t(std::numeric_limits<T>::min()))
                           : (v.u <= uint64_t(std::numeric_limits<T>::max()));
    if (!fits) {
      fail_key(key, &v,
               "value " + (v.negative ? std::to_string(v.i) : std::to_string(v.u)) +
                   " does not fit the expected range");
    }
    return v.negative ? T(v.i) : T(v.u);
  }

  std::string source_;
  ByteSource data_;
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace longctx::gguf
