#include "models/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "models/byte_reader.h"
#include "support/error.h"

namespace longctx::safetensors {
namespace {

// The safetensors format caps the header at 100 MB (its reference implementation's limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr uint64_t kHeaderStart = 8;

struct DtypeInfo {
  std::string_view name;
  kernels::BlockType type;
  int64_t bytes;
};
constexpr DtypeInfo kDtypes[] = {
    {"F32", kernels::BlockType::F32, 4},
    {"F16", kernels::BlockType::F16, 2},
    {"BF16", kernels::BlockType::BF16, 2},
};

}  // namespace

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

const TensorInfo* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void File::parse() {
  ByteReader r(source_, bytes_);
  uint64_t header_len = r.read<uint64_t>("header length");
  if (header_len < 2 || header_len > r.remaining() || header_len > kMaxHeaderBytes) {
    r.fail("header length", 0,
           std::to_string(header_len) + " does not fit the file (" + std::to_string(r.size()) +
               " bytes) or the format's 100 MB limit");
  }
  std::string_view header = r.read_bytes(header_len, "header");
  data_offset_ = kHeaderStart + header_len;
  const uint64_t data_size = bytes_.size() - data_offset_;

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header.begin(), header.end());
  } catch (const nlohmann::json::parse_error& e) {
    r.fail("header JSON", kHeaderStart + (e.byte > 0 ? e.byte - 1 : 0), "not valid JSON");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond double's range
    r.fail("header JSON", kHeaderStart, std::string("not readable: ") + e.what());
  }
  if (!j.is_object()) r.fail("header JSON", kHeaderStart, "is not a JSON object");

  for (auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) r.fail("header '__metadata__'", kHeaderStart, "is not an object");
      for (auto& [k, v] : entry.items()) {
        if (!v.is_string())
          r.fail("header '__metadata__." + k + "'", kHeaderStart, "is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string field = "header entry for tensor '" + name + "'";
    if (!entry.is_object()) r.fail(field, kHeaderStart, "is not an object");
    TensorInfo t;
    t.name = name;
    auto dtype = entry.find("dtype");
    if (dtype == entry.end() || !dtype->is_string())
      r.fail(field, kHeaderStart, "has no dtype string");
    const DtypeInfo* info = nullptr;
    for (const DtypeInfo& d : kDtypes) {
      if (d.name == dtype->get<std::string>()) info = &d;
    }
    if (!info) {
      r.fail(field, kHeaderStart,
             "dtype " + dtype->get<std::string>() + " is not supported (F32, F16, BF16)");
    }
    t.dtype = info->type;
    auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array() || shape->size() > 8) {
      r.fail(field, kHeaderStart, "has no shape array (at most 8 dimensions)");
    }
    t.n_elems = 1;
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned())
        r.fail(field, kHeaderStart, "shape holds a non-integer or negative value");
      auto dim = d.get<uint64_t>();
      if (dim > uint64_t(INT64_MAX) ||
          __builtin_mul_overflow(t.n_elems, int64_t(dim), &t.n_elems)) {
        r.fail(field, kHeaderStart, "element count overflows 64 bits");
      }
      t.shape.push_back(int64_t(dim));
    }
    auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      r.fail(field, kHeaderStart, "data_offsets is not a pair of non-negative integers");
    }
    t.begin = (*offsets)[0].get<uint64_t>();
    t.end = (*offsets)[1].get<uint64_t>();
    if (t.begin > t.end || t.end > data_size) {
      r.fail("tensor '" + name + "' data", data_offset_ + std::min(t.begin, data_size),
             "bytes [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                 ") of the data section lie outside it (" + std::to_string(data_size) +
                 " bytes; truncated?)");
    }
    int64_t want = 0;
    if (__builtin_mul_overflow(t.n_elems, info->bytes, &want) ||
        uint64_t(want) != t.end - t.begin) {
      r.fail("tensor '" + name + "' data", data_offset_ + t.begin,
             std::to_string(t.end - t.begin) + " bytes do not hold the " +
                 std::to_string(t.n_elems) + " " + std::string(info->name) +
                 " values its shape declares");
    }
    t.data = bytes_.data() + data_offset_ + t.begin;
    index_.emplace(name, tensors_.size());
    tensors_.push_back(std::move(t));
  }
  std::vector<const TensorInfo*> sorted;
  for (const TensorInfo& t : tensors_) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t k = 1; k < sorted.size(); ++k) {
    if (sorted[k]->begin < sorted[k - 1]->end && sorted[k]->end > sorted[k]->begin) {
      r.fail("tensor '" + sorted[k]->name + "' data", data_offset_ + sorted[k]->begin,
             "overlaps tensor '" + sorted[k - 1]->name + "'");
    }
  }
}

}  // namespace longctx::safetensors
