// One exception type for every bad input the project can meet: a corrupt file, a bad flag, a
// missing dataset. cmd/ catches it, prints its one-line message and exits with kExitBadInput.
#pragma once

#include <stdexcept>
#include <string>

namespace longctx {

inline constexpr int kExitBadInput = 2;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace longctx
