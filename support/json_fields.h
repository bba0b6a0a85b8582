// Typed reads of a JSON object's fields that name the file and key on a wrong type, so a config
// with `"factor": "2"` is one clear error instead of nlohmann's uncaught type_error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "support/error.h"

namespace longctx {

class JsonFields {
 public:
  // `where` names the object in messages: "config.json", "tokenizer.json: added_tokens[3]".
  JsonFields(std::string where, const nlohmann::json& j) : where_(std::move(where)), j_(j) {
    if (!j_.is_object()) throw Error(where_ + " is not a JSON object");
  }
  JsonFields(std::string where, nlohmann::json&&) = delete;  // it keeps a reference

  // A missing or null key gives the fallback; a present key of another type is an error.
  int64_t integer(const std::string& key) const {
    const nlohmann::json* v = present(key);
    if (!v) fail(key, "is missing");
    if (!v->is_number_integer()) fail(key, "is not an integer");
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX))
      fail(key, "is too large");
    return v->get<int64_t>();
  }
  int64_t integer(const std::string& key, int64_t fallback) const {
    return present(key) ? integer(key) : fallback;
  }
  double number(const std::string& key, double fallback) const {
    const nlohmann::json* v = present(key);
    if (!v) return fallback;
    if (!v->is_number()) fail(key, "is not a number");
    return v->get<double>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    const nlohmann::json* v = present(key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(key, "is not true or false");
    return v->get<bool>();
  }
  std::string text(const std::string& key, const std::string& fallback) const {
    const nlohmann::json* v = present(key);
    if (!v) return fallback;
    if (!v->is_string()) fail(key, "is not a string");
    return v->get<std::string>();
  }
  // The field if present and not null, else nullptr.
  const nlohmann::json* present(const std::string& key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  const nlohmann::json& raw() const { return j_; }
  const std::string& where() const { return where_; }
  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw Error(where_ + ": key '" + key + "' " + why);
  }

 private:
  std::string where_;
  const nlohmann::json& j_;
};

}  // namespace longctx
