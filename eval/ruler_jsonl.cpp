#include "eval/ruler_jsonl.h"

#include <charconv>

#include "support/error.h"
#include "support/text_file.h"

namespace longctx::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool is_task(const std::string& name) {
  for (const auto& t : ruler_tasks())
    if (t.name == name) return true;
  return false;
}

// A whole folder name of decimal digits, as a positive length; 0 otherwise.
int64_t folder_number(const std::string& name) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec != std::errc() || end != name.data() + name.size() || v <= 0) return 0;
  return v;
}

std::string where(const fs::path& file, int64_t line) {
  return file.string() + ":" + std::to_string(line);
}

}  // namespace

std::string ruler_task_from_path(const fs::path& file) {
  std::string parent = file.parent_path().filename().string();
  if (is_task(parent)) return parent;
  std::string stem = file.stem().string();
  return is_task(stem) ? stem : std::string();
}

int64_t ruler_length_from_path(const fs::path& file) {
  for (fs::path p = file.parent_path(); !p.empty() && p != p.parent_path(); p = p.parent_path())
    if (int64_t v = folder_number(p.filename().string())) return v;
  return 0;
}

std::vector<EvalSample> read_ruler_file(const fs::path& file, const RulerTask& task,
                                        const PromptFormat& format, const RulerFileOptions& o) {
  std::string text = read_text_file(file.string());
  std::vector<EvalSample> out;
  int64_t line_no = 0;
  size_t start = 0;
  while (start < text.size() && (o.limit <= 0 || int64_t(out.size()) < o.limit)) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + start, nl - start);
    start = nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string at = where(file, line_no);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      throw Error(at + ": not JSON (" + e.what() + ")");
    }
    if (!j.is_object()) throw Error(at + ": not a JSON object");
    auto need_text = [&](const char* k) {
      if (!j.contains(k))
        throw Error(at + ": no field '" + k + "' (RULER " + std::string(task.name) +
                    " samples need input and outputs)");
      if (!j[k].is_string()) throw Error(at + ": field '" + k + "' is not text");
    };
    need_text("input");
    if (!j.contains("outputs"))
      throw Error(at + ": no field 'outputs' (the answers " + std::string(task.metric) +
                  " scores against)");
    const json& outs = j["outputs"];
    if (!outs.is_array() || outs.empty())
      throw Error(at + ": field 'outputs' is not a non-empty list of texts");
    EvalSample s;
    for (const auto& a : outs) {
      if (!a.is_string()) throw Error(at + ": field 'outputs' holds a value that is not text");
      s.answers.push_back(a.get<std::string>());
    }
    std::string prefix;
    if (j.contains("answer_prefix")) {
      if (!j["answer_prefix"].is_string()) throw Error(at + ": field 'answer_prefix' is not text");
      prefix = j["answer_prefix"].get<std::string>();
    }
    for (const char* k : {"index", "length"})
      if (j.contains(k) && !j[k].is_number_integer())
        throw Error(at + ": field '" + k + "' is not an integer");
    // prepare.py fits every sample to the length it prepares for: a longer one is a file filed
    // under the wrong length.
    if (o.length > 0 && j.contains("length") && j["length"].get<int64_t>() > o.length)
      throw Error(at + ": the sample's length " + std::to_string(j["length"].get<int64_t>()) +
                  " exceeds the " + std::to_string(o.length) +
                  " tokens of the cell it is read for (its path or --lengths)");

    const std::string input = j["input"].get<std::string>();
    s.tokens = o.wrap_chat ? format.encode(input, prefix) : format.encode_prepared(input + prefix);
    if (o.context > 0 && int64_t(s.tokens.size()) + task.max_new_tokens > o.context)
      throw Error(at + ": the prompt is " + std::to_string(s.tokens.size()) + " tokens and " +
                  std::string(task.name) + " generates up to " +
                  std::to_string(task.max_new_tokens) + ", more than the model's context of " +
                  std::to_string(o.context) + " tokens");
    s.benchmark = "ruler";
    s.task = task.name;
    s.length = o.length;
    s.index = int64_t(out.size());
    s.max_new_tokens = task.max_new_tokens;
    s.metric = task.metric;
    s.extra = {{"source", at}, {"answer_prefix", prefix}};
    for (const char* k : {"index", "length"})
      if (j.contains(k)) s.extra[std::string("data_") + k] = j[k];
    if (j.contains("others") && j["others"].is_object())
      for (const auto& [k, v] : j["others"].items())
        if (!s.extra.contains(k)) s.extra[k] = v;
    out.push_back(std::move(s));
  }
  if (out.empty()) throw Error(file.string() + ": no samples in it");
  return out;
}

json ruler_file_line(const EvalSample& s, const TaskText& text, const PromptFormat& format) {
  int64_t length = int64_t(s.tokens.size()) + s.max_new_tokens;
  return {{"index", s.index},
          {"input", format.text(text.body)},
          {"outputs", s.answers},
          {"length", length},
          {"length_w_model_temp", length},
          {"answer_prefix", text.answer_prefix},
          {"others", text.extra}};
}

}  // namespace longctx::eval
