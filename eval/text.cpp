#include "eval/text.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <cstdio>

#include "support/error.h"

namespace longctx::eval {

std::u32string utf8_to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    int extra = b < 0x80 ? 0 : (b >> 5) == 6 ? 1 : (b >> 4) == 14 ? 2 : (b >> 3) == 30 ? 3 : -1;
    char32_t cp = extra == 0 ? b : extra == 1 ? (b & 0x1f) : extra == 2 ? (b & 0x0f) : (b & 0x07);
    bool ok = extra >= 0 && i + size_t(extra) < s.size();
    for (int k = 1; ok && k <= extra; ++k) {
      auto c = static_cast<unsigned char>(s[i + size_t(k)]);
      if ((c >> 6) != 2) ok = false;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (!ok) {
      out.push_back(0xDC00 + b);  // Python's surrogateescape spelling of a stray byte
      ++i;
      continue;
    }
    out.push_back(cp);
    i += size_t(extra) + 1;
  }
  return out;
}

std::string u32_to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c >= 0xDC80 && c <= 0xDCFF) {
      out.push_back(char(c - 0xDC00));
    } else if (c < 0x80) {
      out.push_back(char(c));
    } else if (c < 0x800) {
      out.push_back(char(0xC0 | (c >> 6)));
      out.push_back(char(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
      out.push_back(char(0xE0 | (c >> 12)));
      out.push_back(char(0x80 | ((c >> 6) & 0x3f)));
      out.push_back(char(0x80 | (c & 0x3f)));
    } else {
      out.push_back(char(0xF0 | (c >> 18)));
      out.push_back(char(0x80 | ((c >> 12) & 0x3f)));
      out.push_back(char(0x80 | ((c >> 6) & 0x3f)));
      out.push_back(char(0x80 | (c & 0x3f)));
    }
  }
  return out;
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

std::string lower(std::string_view s) {
  std::u32string u = utf8_to_u32(s);
  // UTF-16 for ICU; a stray byte's surrogate escape (U+DC80-U+DCFF) passes through ICU unchanged,
  // as an unpaired surrogate, and comes back as the same byte.
  std::u16string in;
  in.reserve(u.size());
  for (char32_t c : u) {
    if (c >= 0x10000) {
      in.push_back(char16_t(0xD800 + ((c - 0x10000) >> 10)));
      in.push_back(char16_t(0xDC00 + ((c - 0x10000) & 0x3FF)));
    } else {
      in.push_back(char16_t(c));
    }
  }
  std::u16string out(in.size() + 16, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode err = U_ZERO_ERROR;
    // The root locale: Python's str.lower() is not language-sensitive (no Turkish dotless i).
    int32_t n =
        u_strToLower(out.data(), int32_t(out.size()), in.data(), int32_t(in.size()), "", &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      out.assign(size_t(n), u'\0');
      continue;
    }
    if (U_FAILURE(err)) throw Error(std::string("case mapping failed: ") + u_errorName(err));
    out.resize(size_t(n));
    break;
  }
  std::u32string back;
  back.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    char32_t c = out[i];
    if (c >= 0xD800 && c < 0xDC00 && i + 1 < out.size() && out[i + 1] >= 0xDC00 &&
        out[i + 1] < 0xE000) {
      c = 0x10000 + ((c - 0xD800) << 10) + (out[i + 1] - 0xDC00);
      ++i;
    }
    back.push_back(c);
  }
  return u32_to_utf8(back);
}

bool is_word_char(char32_t c) {
  if (c == '_') return true;
  if (c >= 0xD800 && c < 0xE000) return false;  // stray bytes (surrogate escapes)
  const auto cp = UChar32(c);
  return u_isalpha(cp) || u_getIntPropertyValue(cp, UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

bool is_decimal_digit(char32_t c) {
  return u_charType(UChar32(c)) == U_DECIMAL_DIGIT_NUMBER;
}

std::vector<std::string> split_whitespace(std::string_view s) {
  std::u32string u = utf8_to_u32(s);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < u.size()) {
    while (i < u.size() && is_space(u[i])) ++i;
    size_t start = i;
    while (i < u.size() && !is_space(u[i])) ++i;
    if (i > start) out.push_back(u32_to_utf8(std::u32string_view(u).substr(start, i - start)));
  }
  return out;
}

std::string strip(std::string_view s) {
  std::u32string u = utf8_to_u32(s);
  size_t b = 0, e = u.size();
  while (b < e && is_space(u[b])) ++b;
  while (e > b && is_space(u[e - 1])) --e;
  return u32_to_utf8(std::u32string_view(u).substr(b, e - b));
}

std::string lstrip_chars(std::string_view s, std::string_view chars) {
  size_t b = s.find_first_not_of(chars);
  return b == std::string_view::npos ? "" : std::string(s.substr(b));
}

std::vector<std::string> split_on(std::string_view s, std::string_view sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + sep.size();
  }
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

std::string format_fields(
    std::string_view tpl,
    const std::function<std::optional<std::string>(std::string_view)>& value) {
  std::string out;
  size_t i = 0;
  while (i < tpl.size()) {
    size_t close = tpl[i] == '{' ? tpl.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out += tpl[i++];
      continue;
    }
    std::string_view name = tpl.substr(i + 1, close - i - 1);
    std::optional<std::string> v = value(name);
    if (!v) throw Error("template field {" + std::string(name) + "} has no text value");
    out += *v;
    i = close + 1;
  }
  return out;
}

std::string format_double(const char* printf_format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, printf_format, v);
  return buf;
}

}  // namespace longctx::eval
