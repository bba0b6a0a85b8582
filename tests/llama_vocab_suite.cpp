// llama.cpp's own tokenizer test suite, run on longctx: its vocabulary files (models/ggml-vocab-*
// .gguf, written by llama.cpp's converter) with their .inp/.out pairs (texts, and the ids the
// models' Hugging Face tokenizers give them), read as its tests/test-tokenizer-0.cpp reads them:
// inputs separated by "\n__ggml_vocab_test__\n", one line of ids each, duplicates collapsed,
// encoded without BOS/EOS and without matching special tokens.
//
// Every vocabulary is either passed at 100% or refused with one clear error; the ones named with
// --require must load. scripts/setup fetches the files from the llama-cpp-python source
// distribution.
//
//   llama_vocab_suite DIR [--require gpt-2,llama-spm,...]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "models/gguf.h"
#include "models/gguf_vocab.h"
#include "support/error.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace longctx;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string strip(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

// test-tokenizer-0's read_tests: a map from input text to its ids.
std::map<std::string, std::vector<int32_t>> read_cases(const fs::path& gguf) {
  const std::string inp = read_all(gguf.string() + ".inp");
  std::vector<std::string> outs;
  std::istringstream out(read_all(gguf.string() + ".out"));
  for (std::string line; std::getline(out, line);) outs.push_back(line);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  if (texts.size() != outs.size())
    throw Error(gguf.string() + ": .inp holds " + std::to_string(texts.size()) + " texts, .out " +
                std::to_string(outs.size()) + " lines");
  std::map<std::string, std::vector<int32_t>> cases;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> ids;
    std::istringstream fields(strip(outs[i]));
    for (int32_t id; fields >> id;) ids.push_back(id);
    cases[texts[i]] = ids;
  }
  return cases;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: llama_vocab_suite DIR [--require name,name,...]\n");
    return 2;
  }
  const fs::path dir = argv[1];
  std::vector<std::string> required;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) != "--require") continue;
    std::istringstream list(argv[i + 1]);
    for (std::string name; std::getline(list, name, ',');) required.push_back(name);
  }
  std::vector<fs::path> files;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.starts_with("ggml-vocab-") && name.ends_with(".gguf") &&
          fs::exists(e.path().string() + ".inp"))
        files.push_back(e.path());
    }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "%s: no ggml-vocab-*.gguf with .inp/.out files: run scripts/setup\n",
                 dir.c_str());
    return 1;
  }
  int failed = 0;
  std::vector<std::string> passed;
  for (const fs::path& f : files) {
    std::string name = f.stem().string().substr(std::string("ggml-vocab-").size());
    const bool must = std::find(required.begin(), required.end(), name) != required.end();
    std::unique_ptr<tokenizer::Tokenizer> tok;
    try {
      tok = tokenizer::Tokenizer::create(read_vocab(gguf::File::open(f.string())));
    } catch (const Error& e) {
      const std::string why = e.what();
      const bool one_line = why.find('\n') == std::string::npos && !why.empty();
      std::printf("%-16s refused: %s\n", name.c_str(), why.c_str());
      if (must || !one_line) {
        std::printf("%-16s FAILED: %s\n", name.c_str(),
                    must ? "longctx claims this vocabulary" : "the error is not one line");
        ++failed;
      }
      continue;
    }
    const auto cases = read_cases(f);
    size_t bad = 0;
    for (const auto& [text, want] : cases) {
      const std::vector<int32_t> got = tok->encode(text, false, false);
      if (got == want) continue;
      if (bad++ < 3)
        std::printf("%-16s text %s\n%-16s   ours %s\n%-16s   ref  %s\n", name.c_str(),
                    ("'" + text.substr(0, 60) + "'").c_str(), "", show(got).c_str(), "",
                    show(want).c_str());
    }
    std::printf("%-16s %s %zu/%zu\n", name.c_str(), bad ? "FAILED" : "passed", cases.size() - bad,
                cases.size());
    if (bad)
      ++failed;
    else
      passed.push_back(name);
  }
  for (const std::string& name : required) {
    if (!fs::exists(dir / ("ggml-vocab-" + name + ".gguf"))) {
      std::printf("%-16s FAILED: its file is missing from %s\n", name.c_str(), dir.c_str());
      ++failed;
    }
  }
  std::printf("%zu vocabularies passed at 100%%, %d failed\n", passed.size(), failed);
  return failed ? 1 : 0;
}
