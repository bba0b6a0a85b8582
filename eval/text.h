// Python's string semantics, as far as the benchmark scorers rely on them: str.lower(), re's
// Unicode \w and \d, str.split() / strip() on whitespace, code-point length. Case mapping and
// character classes come from ICU (the Unicode data Python's unicodedata is built from). Texts are
// UTF-8; invalid bytes count as one code point each, so nothing here throws.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace longctx::eval {

std::u32string utf8_to_u32(std::string_view s);
std::string u32_to_utf8(std::u32string_view s);

// str.isspace(): ASCII whitespace, the separators 0x1c-0x1f and the Unicode spaces.
bool is_space(char32_t c);
// str.lower(): full Unicode case mapping ("İ" becomes "i" + U+0307) with Greek final sigma
// ("ΟΔΟΣ" becomes "οδος" with "ς").
std::string lower(std::string_view s);
// re's \w on a str: letters, any character with a numeric value (digits, "½", "Ⅻ"), and '_'.
bool is_word_char(char32_t c);
// re's \d on a str: the decimal digits of every script (category Nd: "٤", "１").
bool is_decimal_digit(char32_t c);

// str.split() with no argument: runs of whitespace separate, none at the ends.
std::vector<std::string> split_whitespace(std::string_view s);
// str.strip() with no argument / str.lstrip(chars) for ASCII chars.
std::string strip(std::string_view s);
std::string lstrip_chars(std::string_view s, std::string_view chars);
// str.split(sep) for a non-empty separator: empty pieces kept.
std::vector<std::string> split_on(std::string_view s, std::string_view sep);
// " ".join(...)
std::string join(const std::vector<std::string>& parts, std::string_view sep);
// One number printed with a printf format ("%.1f", "%+.3f"): the result tables' cells.
std::string format_double(const char* printf_format, double v);
// str.replace(from, to): every occurrence, left to right.
std::string replace_all(std::string s, std::string_view from, std::string_view to);
// Python's str.format for named fields ("{context}"): `value` gives a field's text, or nullopt
// for a field it does not know (an error naming it). Only the template is parsed, so braces in the
// values stay as they are.
std::string format_fields(std::string_view tpl,
                          const std::function<std::optional<std::string>(std::string_view)>& value);

}  // namespace longctx::eval
