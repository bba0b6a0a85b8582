#include "models/gguf.h"

#include <algorithm>
#include <bit>

#include "models/byte_reader.h"
#include "support/error.h"

namespace longctx::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
constexpr uint32_t kMaxDims = 4;
// longctx's own bound on tensor-name length (llama.cpp's is 63); generous but finite.
constexpr uint64_t kMaxTensorName = 256;
// Smallest encodings, used to reject counts that could not fit in the bytes left.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                  // key length, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, dims, ne0, type, offset

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return 8;
    case ValueType::STRING:
      return 8;  // the length prefix, the least a string can take
    case ValueType::ARRAY:
      return 12;  // element type + count
  }
  return 0;
}

// Decodes a scalar of type `t` at `p` into `v` (integers, floats, bools).
void decode_scalar(ValueType t, const uint8_t* p, Value& v) {
  auto load = [p]<typename T>(T) {
    T x;
    std::memcpy(&x, p, sizeof x);
    return x;
  };
  auto set_signed = [&v](int64_t x) {
    v.negative = x < 0;
    v.i = x;
    v.u = x < 0 ? 0 : uint64_t(x);
  };
  switch (t) {
    case ValueType::UINT8:
      v.u = load(uint8_t{});
      v.i = int64_t(v.u);
      break;
    case ValueType::UINT16:
      v.u = load(uint16_t{});
      v.i = int64_t(v.u);
      break;
    case ValueType::UINT32:
      v.u = load(uint32_t{});
      v.i = int64_t(v.u);
      break;
    case ValueType::UINT64:
      v.u = load(uint64_t{});
      v.i = int64_t(v.u);
      break;
    case ValueType::INT8:
      set_signed(load(int8_t{}));
      break;
    case ValueType::INT16:
      set_signed(load(int16_t{}));
      break;
    case ValueType::INT32:
      set_signed(load(int32_t{}));
      break;
    case ValueType::INT64:
      set_signed(load(int64_t{}));
      break;
    case ValueType::FLOAT32:
      v.f = load(float{});
      break;
    case ValueType::FLOAT64:
      v.f = load(double{});
      break;
    case ValueType::BOOL:
      v.b = load(uint8_t{}) != 0;
      break;
    default:
      break;
  }
}

ValueType read_type(ByteReader& r, std::string_view field, bool allow_array) {
  uint64_t at = r.pos();
  int32_t raw = r.read<int32_t>(field);
  if (raw < 0 || raw > int32_t(ValueType::FLOAT64)) {
    r.fail(field, at, "unknown value type " + std::to_string(raw));
  }
  auto t = ValueType(raw);
  if (t == ValueType::ARRAY && !allow_array) r.fail(field, at, "nested arrays are not supported");
  return t;
}

std::string_view read_string(ByteReader& r, std::string_view field) {
  uint64_t at = r.pos();
  uint64_t len = r.read<uint64_t>(field);
  if (len > r.remaining()) {
    r.fail(field, at,
           "string length " + std::to_string(len) + " exceeds the " +
               std::to_string(r.remaining()) + " bytes left in the file");
  }
  return r.read_bytes(len, field);
}

Value read_value(ByteReader& r, const std::string& key) {
  const std::string field = "value of '" + key + "'";
  Value v;
  v.offset = r.pos();
  v.type = read_type(r, "type of '" + key + "'", true);
  if (v.type == ValueType::STRING) {
    v.str = read_string(r, field);
  } else if (v.type == ValueType::ARRAY) {
    v.elem_type = read_type(r, "element type of '" + key + "'", false);
    uint64_t count_at = r.pos();
    v.count = r.read<uint64_t>("element count of '" + key + "'");
    uint64_t elem_size = scalar_size(v.elem_type);
    if (v.count > r.remaining() / elem_size) {
      r.fail("element count of '" + key + "'", count_at,
             "count " + std::to_string(v.count) + " cannot fit in the " +
                 std::to_string(r.remaining()) + " bytes left");
    }
    if (v.elem_type == ValueType::STRING) {
      v.strings.reserve(v.count);
      for (uint64_t k = 0; k < v.count; ++k) v.strings.push_back(read_string(r, field));
    } else {
      v.elems = r.bytes().data() + r.pos();
      r.skip(v.count * elem_size, field);
    }
  } else {
    size_t n = scalar_size(v.type);
    r.require(n, field);
    decode_scalar(v.type, r.bytes().data() + r.pos(), v);
    r.skip(n, field);
  }
  return v;
}

bool mul_overflows(int64_t a, int64_t b, int64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

std::string_view type_name(ValueType type) {
  static constexpr std::string_view kNames[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                                "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                                "UINT64", "INT64",   "FLOAT64"};
  auto i = size_t(type);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

bool is_float(ValueType t) {
  return t == ValueType::FLOAT32 || t == ValueType::FLOAT64;
}

Value Value::element(uint64_t k) const {
  Value v;
  v.type = elem_type;
  v.offset = offset;
  if (elem_type == ValueType::STRING) {
    v.str = strings.at(k);
  } else if (k < count) {
    decode_scalar(elem_type, elems + k * scalar_size(elem_type), v);
  }
  return v;
}

File File::open(const std::string& path) {
  File file(path, ByteSource::map(path));
  file.parse();
  return file;
}

File File::from_bytes(std::string source, std::vector<uint8_t> bytes) {
  File file(std::move(source), ByteSource::own(std::move(bytes)));
  file.parse();
  return file;
}

void File::parse() {
  ByteReader r(source_, bytes_);
  uint32_t magic = r.read<uint32_t>("magic");
  if (magic != kMagic) r.fail("magic", 0, "not a GGUF file (expected the bytes 'GGUF')");
  version_ = r.read<uint32_t>("version");
  if (version_ == 1) r.fail("version", 4, "GGUF v1 is not supported (convert the file to v3)");
  if (version_ != 2 && version_ != 3) {
    r.fail("version", 4, "unsupported GGUF version " + std::to_string(version_) + " (2 or 3)");
  }
  uint64_t n_tensors = r.read<uint64_t>("tensor count");
  uint64_t n_kv = r.read<uint64_t>("metadata count");
  if (n_tensors > r.remaining() / kMinTensorInfoBytes) {
    r.fail("tensor count", 8,
           std::to_string(n_tensors) + " tensors cannot fit in a file of " +
               std::to_string(r.size()) + " bytes");
  }
  if (n_kv > r.remaining() / kMinKvBytes) {
    r.fail("metadata count", 16,
           std::to_string(n_kv) + " key-value pairs cannot fit in a file of " +
               std::to_string(r.size()) + " bytes");
  }

  metadata_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    uint64_t key_at = r.pos();
    std::string key(read_string(r, "key of metadata entry " + std::to_string(k)));
    if (key.empty()) r.fail("key of metadata entry " + std::to_string(k), key_at, "empty key");
    if (metadata_index_.count(key)) r.fail("key '" + key + "'", key_at, "duplicate key");
    Value v = read_value(r, key);
    metadata_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(v));
  }

  alignment_ = kDefaultAlignment;
  if (const Value* a = find("general.alignment")) {
    uint64_t al = to_int<uint64_t>("general.alignment", *a);
    if (al == 0 || !std::has_single_bit(al) || al > kMaxAlignment) {
      r.fail("value of 'general.alignment'", a->offset,
             "alignment " + std::to_string(al) + " is not a power of two up to 2^30");
    }
    alignment_ = al;
  }

  tensors_.reserve(n_tensors);
  for (uint64_t t = 0; t < n_tensors; ++t) {
    TensorInfo info;
    info.info_offset = r.pos();
    const std::string label = "tensor " + std::to_string(t);
    std::string_view name = read_string(r, label + " name");
    if (name.empty() || name.size() > kMaxTensorName) {
      r.fail(label + " name", info.info_offset,
             "name length " + std::to_string(name.size()) + " is not in 1.." +
                 std::to_string(kMaxTensorName));
    }
    info.name = std::string(name);
    const std::string field = "tensor '" + info.name + "'";
    if (tensor_index_.count(info.name)) r.fail(field, info.info_offset, "duplicate tensor name");
    uint64_t dims_at = r.pos();
    uint32_t n_dims = r.read<uint32_t>(field + " dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      r.fail(field + " dimension count", dims_at,
             std::to_string(n_dims) + " dimensions (expected 1 to 4)");
    }
    info.n_elems = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t at = r.pos();
      int64_t ne = r.read<int64_t>(field + " shape");
      if (ne < 0) r.fail(field + " shape", at, "negative dimension " + std::to_string(ne));
      if (mul_overflows(info.n_elems, ne, &info.n_elems)) {
        r.fail(field + " shape", at, "element count overflows 64 bits");
      }
      info.shape.push_back(ne);
    }
    uint64_t type_at = r.pos();
    int32_t type_id = r.read<int32_t>(field + " type");
    auto type = quant::find_type(type_id);
    if (!type) r.fail(field + " type", type_at, "unknown tensor type " + std::to_string(type_id));
    info.type = *type;
    if (info.shape[0] % type->block_elems != 0) {
      r.fail(field + " shape", dims_at + 4,
             "first dimension " + std::to_string(info.shape[0]) + " is not a multiple of the " +
                 std::string(type->name) + " block size " + std::to_string(type->block_elems));
    }
    if (mul_overflows(info.n_elems / type->block_elems, type->block_bytes, &info.n_bytes)) {
      r.fail(field + " shape", dims_at + 4, "byte size overflows 64 bits");
    }
    uint64_t offset_at = r.pos();
    info.offset = r.read<uint64_t>(field + " offset");
    if (info.offset % alignment_ != 0) {
      r.fail(field + " offset", offset_at,
             "offset " + std::to_string(info.offset) + " is not a multiple of the alignment " +
                 std::to_string(alignment_));
    }
    tensor_index_.emplace(info.name, tensors_.size());
    tensors_.push_back(std::move(info));
  }

  // The data section starts at the next multiple of the alignment after the tensor infos.
  uint64_t end_of_infos = r.pos();
  data_offset_ = (end_of_infos + alignment_ - 1) / alignment_ * alignment_;
  uint64_t size = bytes_.size();
  if (n_tensors > 0 && data_offset_ > size) {
    r.fail("data section", end_of_infos,
           "starts at " + std::to_string(data_offset_) + ", past the end of the file (" +
               std::to_string(size) + " bytes)");
  }
  uint64_t data_size = n_tensors > 0 ? size - data_offset_ : 0;
  for (TensorInfo& info : tensors_) {
    uint64_t n_bytes = uint64_t(info.n_bytes);
    if (info.offset > data_size || n_bytes > data_size - info.offset) {
      r.fail("tensor '" + info.name + "' data", info.info_offset,
             "bytes [" + std::to_string(data_offset_ + info.offset) + ", +" +
                 std::to_string(n_bytes) + ") lie outside the file (" + std::to_string(size) +
                 " bytes; truncated?)");
    }
    info.data = bytes_.data() + data_offset_ + info.offset;
  }
  // Tensors may sit in any order but must not overlap.
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& info : tensors_) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const TensorInfo* prev = by_offset[k - 1];
    if (by_offset[k]->n_bytes > 0 &&
        prev->offset + uint64_t(prev->n_bytes) > by_offset[k]->offset) {
      r.fail("tensor '" + by_offset[k]->name + "' offset", by_offset[k]->info_offset,
             "data overlaps tensor '" + prev->name + "'");
    }
  }
}

const Value* File::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor(std::string_view name) const {
  const TensorInfo* t = find_tensor(name);
  if (!t) throw Error(source_ + ": tensor '" + std::string(name) + "' is missing");
  return *t;
}

void File::fail_key(std::string_view key, const Value* v, const std::string& why) const {
  std::string where = v ? " at byte offset " + std::to_string(v->offset) : "";
  throw Error(source_ + ": metadata key '" + std::string(key) + "'" + where + ": " + why);
}

const Value& File::require(std::string_view key) const {
  const Value* v = find(key);
  if (!v) fail_key(key, nullptr, "is missing");
  return *v;
}

const Value& File::require_array(std::string_view key) const {
  const Value& v = require(key);
  if (v.type != ValueType::ARRAY) {
    fail_key(key, &v, "holds " + std::string(type_name(v.type)) + ", expected an array");
  }
  return v;
}

double File::to_float(std::string_view key, const Value& v) const {
  if (is_float(v.type)) return v.f;
  if (is_integer(v.type)) return v.negative ? double(v.i) : double(v.u);
  fail_key(key, &v, "holds " + std::string(type_name(v.type)) + ", expected a number");
}

std::optional<double> File::find_float(std::string_view key) const {
  const Value* v = find(key);
  return v ? std::optional<double>(to_float(key, *v)) : std::nullopt;
}

bool File::get_bool(std::string_view key) const {
  const Value& v = require(key);
  if (v.type != ValueType::BOOL) {
    fail_key(key, &v, "holds " + std::string(type_name(v.type)) + ", expected BOOL");
  }
  return v.b;
}

std::optional<bool> File::find_bool(std::string_view key) const {
  return find(key) ? std::optional<bool>(get_bool(key)) : std::nullopt;
}

std::string_view File::get_string(std::string_view key) const {
  const Value& v = require(key);
  if (v.type != ValueType::STRING) {
    fail_key(key, &v, "holds " + std::string(type_name(v.type)) + ", expected STRING");
  }
  return v.str;
}

std::optional<std::string_view> File::find_string(std::string_view key) const {
  return find(key) ? std::optional<std::string_view>(get_string(key)) : std::nullopt;
}

std::span<const std::string_view> File::get_string_array(std::string_view key) const {
  const Value& v = require_array(key);
  if (v.elem_type != ValueType::STRING) {
    fail_key(key, &v,
             "holds an array of " + std::string(type_name(v.elem_type)) +
                 ", expected an array of STRING");
  }
  return v.strings;
}

std::vector<float> File::get_float_array(std::string_view key) const {
  const Value& v = require_array(key);
  std::vector<float> out;
  out.reserve(v.count);
  for (uint64_t k = 0; k < v.count; ++k) out.push_back(float(to_float(key, v.element(k))));
  return out;
}

}  // namespace longctx::gguf
