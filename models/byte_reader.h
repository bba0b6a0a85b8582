// A size-checked little-endian reader over a byte span. Every read checks bounds first, so a
// parser built on it can be fed arbitrary bytes (and is fuzzed that way). Errors name the file,
// the field and the byte offset where the field starts.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "support/error.h"

namespace longctx {

class ByteReader {
 public:
  ByteReader(std::string source, std::span<const uint8_t> bytes)
      : source_(std::move(source)), bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t size() const { return bytes_.size(); }
  size_t remaining() const { return bytes_.size() - pos_; }
  const std::string& source() const { return source_; }
  std::span<const uint8_t> bytes() const { return bytes_; }

  template <typename T>
  T read(std::string_view field) {
    static_assert(std::is_trivially_copyable_v<T>);
    require(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  // A view of the next `n` bytes (no copy); fails when fewer remain.
  std::string_view read_bytes(uint64_t n, std::string_view field) {
    require(n, field);
    std::string_view view(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return view;
  }

  void skip(uint64_t n, std::string_view field) {
    require(n, field);
    pos_ += n;
  }

  void require(uint64_t n, std::string_view field) const {
    if (n > remaining()) {
      fail(field, pos_,
           "needs " + std::to_string(n) + " bytes but the file ends after " +
               std::to_string(remaining()) + " (truncated?)");
    }
  }

  [[noreturn]] void fail(std::string_view field, uint64_t offset, const std::string& why) const {
    throw Error(source_ + ": " + std::string(field) + " at byte offset " + std::to_string(offset) +
                ": " + why);
  }

 private:
  std::string source_;
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

}  // namespace longctx
