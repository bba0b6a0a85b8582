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

// `s` as valid UTF-8: each maximal ill-formed subsequence becomes one U+FFFD, as Python's
// bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy (what the Hugging Face
// tokenizers' decode returns) do. Valid text comes back unchanged.
inline std::string to_valid(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = uint8_t(s[i]);
    if (lead < 0x80) {
      out += char(lead);
      ++i;
      continue;
    }
    // The length a lead byte announces and the range its first continuation byte must be in
    // (Unicode Table 3-7, well-formed byte sequences).
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      need = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      need = 3;
      if (lead == 0xe0) lo = 0xa0;
      if (lead == 0xed) hi = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      need = 4;
      if (lead == 0xf0) lo = 0x90;
      if (lead == 0xf4) hi = 0x8f;
    }
    size_t got = 1;
    while (need > 0 && got < need && i + got < s.size()) {
      const auto c = uint8_t(s[i + got]);
      if (c < (got == 1 ? lo : 0x80) || c > (got == 1 ? hi : 0xbf)) break;
      ++got;
    }
    if (need > 0 && got == need) {
      out.append(s.substr(i, need));
    } else {
      out += "\xef\xbf\xbd";
    }
    i += got;
  }
  return out;
}

}  // namespace longctx::tokenizer::utf8
