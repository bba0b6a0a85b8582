// The bytes a parser reads: a file mapped read-only, or a buffer it owns (tests, fuzzing). Moving
// it keeps every view into the bytes valid (the mapping and the vector's heap block do not move).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "support/mapped_file.h"

namespace longctx {

class ByteSource {
 public:
  static ByteSource map(const std::string& path) {
    ByteSource s;
    s.mapping_.emplace(path);
    s.bytes_ = s.mapping_->bytes();
    return s;
  }
  static ByteSource own(std::vector<uint8_t> bytes) {
    ByteSource s;
    s.owned_ = std::move(bytes);
    s.bytes_ = s.owned_;
    return s;
  }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  ByteSource() = default;
  std::optional<MappedFile> mapping_;
  std::vector<uint8_t> owned_;
  std::span<const uint8_t> bytes_;
};

}  // namespace longctx
