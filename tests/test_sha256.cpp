#include <catch2/catch.hpp>
#include <string>

#include "support/sha256.h"

using longctx::Sha256;
using longctx::sha256_hex;

namespace {
std::string hash_of(const std::string& s) {
  return sha256_hex({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}
}  // namespace

TEST_CASE("SHA-256 known answers (FIPS 180-4 examples)") {
  CHECK(hash_of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hash_of("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hash_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Streaming in odd pieces gives the same digest as one update.
  std::string million(1000000, 'a');
  Sha256 h;
  for (size_t i = 0; i < million.size(); i += 997) {
    h.update(million.data() + i, std::min<size_t>(997, million.size() - i));
  }
  CHECK(h.finish_hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
