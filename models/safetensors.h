// safetensors reader: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the data, mmap'd. Validated when opened; a bad file raises one
// longctx::Error naming the file, the field and the byte offset.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/common/blocks.h"
#include "support/byte_source.h"

namespace longctx::safetensors {

struct TensorInfo {
  std::string name;
  kernels::BlockType dtype = kernels::BlockType::F32;  // F32, F16 or BF16
  std::vector<int64_t> shape;                          // row-major, PyTorch order
  int64_t n_elems = 0;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
  const uint8_t* data = nullptr;
};

class File {
 public:
  static File open(const std::string& path);
  static File from_bytes(std::string source, std::vector<uint8_t> bytes);

  const std::string& source() const { return source_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  File(std::string source, ByteSource bytes)
      : source_(std::move(source)), data_(std::move(bytes)), bytes_(data_.bytes()) {}
  void parse();

  std::string source_;
  ByteSource data_;
  std::span<const uint8_t> bytes_;
  uint64_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace longctx::safetensors
