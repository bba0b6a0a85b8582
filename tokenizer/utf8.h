// Small UTF-8 helpers shared by the tokenizers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace longctx::tokenizer::utf8 {

// Length of the sequence a lead byte starts (1 for continuation or invalid bytes).
inline size_t sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xe) return 3;
  if ((lead >> 3) == 0x1e) return 4;
  return 1;
}

// The length of the longest prefix of `s` that ends on a character boundary: an incomplete
// multi-byte sequence at the end is held back.
inline size_t complete_prefix(std::string_view s) {
  size_t n = s.size();
  // Look at most 3 bytes back for the start of the last sequence.
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    uint8_t c = uint8_t(s[n - back]);
    if ((c & 0xc0) == 0x80) continue;  // continuation byte
    size_t need = sequence_length(c);
    return need > back ? n - back : n;
  }
  return n;
}

inline void append_codepoint(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xc0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += char(0xe0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  } else {
    out += char(0xf0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3f));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  }
}

}  // namespace longctx::tokenizer::utf8
