#include "eval/ruler.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "eval/rng.h"
#include "eval/text.h"
#include "support/error.h"

namespace longctx::eval {
namespace {

// scripts/data/synthetic/constants.py, verbatim.
constexpr std::string_view kNiahTemplate =
    "Some special magic {type_needle_v} are hidden within the following text. Make sure to "
    "memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all "
    "the special magic {type_needle_v} for {query} mentioned in the provided text?";
constexpr std::string_view kNiahPrefix =
    " The special magic {type_needle_v} for {query} mentioned in the provided text are";
constexpr std::string_view kVtTemplate =
    "Memorize and track the chain(s) of variable assignment hidden in the following "
    "text.\n\n{context}\nQuestion: Find all variables that are assigned the value {query} in the "
    "text above.";
constexpr std::string_view kVtPrefix =
    " Answer: According to the chain(s) of variable assignment in the text above, {num_v} "
    "variables are assigned the value {query}, they are: ";
constexpr std::string_view kCweTemplate =
    "Below is a numbered list of words. In these words, some appear more often than others. "
    "Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most common "
    "words in the above list?";
constexpr std::string_view kCwePrefix =
    " Answer: The top 10 words that appear most often in the list are:";
constexpr std::string_view kFweTemplate =
    "Read the following coded text and track the frequency of each coded word. Find the three most "
    "frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please "
    "ignore the dots '....'. What are the three most frequently appeared words in the above coded "
    "text?";
constexpr std::string_view kFwePrefix =
    " Answer: According to the coded text above, the three most frequently appeared words are:";
constexpr std::string_view kQaTemplate =
    "Answer the question based on the given documents. Only give me the answer and do not output "
    "any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question "
    "based on the given documents. Only give me the answer and do not output any other "
    "words.\n\nQuestion: {query}";
constexpr std::string_view kQaPrefix = " Answer:";

constexpr std::string_view kNoise =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
constexpr std::string_view kNeedle =
    "One of the special magic {type_needle_v} for {key} is: {value}.";

// niah.py: DEPTHS = np.round(np.linspace(0, 100, 40)).
std::vector<int64_t> depth_grid() {
  std::vector<int64_t> d;
  for (int i = 0; i < 40; ++i) d.push_back(int64_t(std::nearbyint(100.0 * i / 39)));
  return d;
}

struct NiahConfig {
  std::string_view haystack, key_type, value_type;
  int64_t num_k, num_v, num_q;
};

NiahConfig niah_config(std::string_view task) {
  if (task == "niah_single_1") return {"noise", "words", "numbers", 1, 1, 1};
  if (task == "niah_single_2") return {"essay", "words", "numbers", 1, 1, 1};
  if (task == "niah_single_3") return {"essay", "words", "uuids", 1, 1, 1};
  if (task == "niah_multikey_1") return {"essay", "words", "numbers", 4, 1, 1};
  if (task == "niah_multikey_2") return {"needle", "words", "numbers", 1, 1, 1};
  if (task == "niah_multikey_3") return {"needle", "uuids", "uuids", 1, 1, 1};
  if (task == "niah_multivalue") return {"essay", "words", "numbers", 1, 4, 1};
  return {"essay", "words", "numbers", 1, 1, 4};  // niah_multiquery
}

// The templates' named fields, as str.format fills them.
std::string format(std::string_view tpl,
                   const std::vector<std::pair<std::string, std::string>>& fields) {
  return format_fields(tpl, [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [k, v] : fields)
      if (k == name) return v;
    return std::nullopt;
  });
}

std::string random_upper(Rng& rng, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += char('A' + rng.below(26));
  return s;
}

std::string uuid4(Rng& rng) {
  uint64_t hi = rng.next(), lo = rng.next();
  hi = (hi & ~0xf000ull) | 0x4000ull;                         // version 4
  lo = (lo & 0x3fffffffffffffffull) | 0x8000000000000000ull;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                (unsigned long long)(hi >> 32), (unsigned long long)((hi >> 16) & 0xffff),
                (unsigned long long)(hi & 0xffff), (unsigned long long)(lo >> 48),
                (unsigned long long)(lo & 0xffffffffffffull));
  return buf;
}

}  // namespace

const std::vector<RulerTask>& ruler_tasks() {
  static const std::vector<RulerTask> tasks = {
      {"niah_single_1", "niah", 128, "string_match_all"},
      {"niah_single_2", "niah", 128, "string_match_all"},
      {"niah_single_3", "niah", 128, "string_match_all"},
      {"niah_multikey_1", "niah", 128, "string_match_all"},
      {"niah_multikey_2", "niah", 128, "string_match_all"},
      {"niah_multikey_3", "niah", 128, "string_match_all"},
      {"niah_multivalue", "niah", 128, "string_match_all"},
      {"niah_multiquery", "niah", 128, "string_match_all"},
      {"vt", "vt", 30, "string_match_all"},
      {"cwe", "cwe", 120, "string_match_all"},
      {"fwe", "fwe", 50, "string_match_all"},
      {"qa_1", "qa", 32, "string_match_part"},
      {"qa_2", "qa", 32, "string_match_part"},
  };
  return tasks;
}

const RulerTask& ruler_task(std::string_view name) {
  for (const auto& t : ruler_tasks())
    if (t.name == name) return t;
  std::string known;
  for (const auto& t : ruler_tasks()) known += (known.empty() ? "" : ", ") + std::string(t.name);
  throw Error("unknown RULER task '" + std::string(name) + "' (known: " + known + ")");
}

struct RulerGenerator::Data {
  std::optional<WordLists> words;
  std::vector<std::string> essay;
  std::vector<std::string> cwe_pool;
  std::optional<QaSet> squad, hotpot;
  std::optional<std::string> vt_example;  // the one-shot example, before its names are redrawn
};

RulerGenerator::RulerGenerator(const PromptFormat& format, std::filesystem::path data_dir,
                               uint64_t seed)
    : format_(format),
      data_dir_(std::move(data_dir)),
      seed_(seed),
      data_(std::make_unique<Data>()) {}
RulerGenerator::~RulerGenerator() = default;

int64_t RulerGenerator::count_tokens(const TaskText& t) const {
  return int64_t(format_.encode(t.body, t.answer_prefix).size());
}

// Haystack units added or removed per step (niah.py, variable_tracking.py, ...).
int64_t RulerGenerator::incremental(const RulerTask& task, int64_t length) const {
  if (task.family == "niah") {
    if (niah_config(task.name).haystack == "essay") return 500;
    return length < 4096 ? 5 : 25;
  }
  if (task.family == "vt") return length < 4096 ? 5 : 10;
  return 10;  // cwe words, qa documents, fwe words
}

TaskText RulerGenerator::text(std::string_view task_name, int64_t units, int64_t length,
                              uint64_t seed, int64_t index) {
  const RulerTask& task = ruler_task(task_name);
  Rng rng(seed);
  TaskText out;
  auto words = [&]() -> const WordLists& {
    if (!data_->words) data_->words = WordLists::load(data_dir_);
    return *data_->words;
  };
  if (task.family == "niah") {
    NiahConfig c = niah_config(task.name);
    int64_t num_k = std::max(c.num_k, c.num_q);
    auto draw = [&](std::string_view type) -> std::string {
      if (type == "numbers") return std::to_string(rng.range(1000000, 9999999));
      if (type == "uuids") return uuid4(rng);
      const WordLists& w = words();  // adjective-noun pairs of wonderwords' lists
      return w.adjectives[rng.below(w.adjectives.size())] + "-" +
             w.nouns[rng.below(w.nouns.size())];
    };
    std::string type_v(c.value_type);
    std::vector<std::string> keys, needles;
    std::vector<std::vector<std::string>> values;
    for (int64_t k = 0; k < num_k; ++k) {
      keys.push_back(draw(c.key_type));
      values.emplace_back();
      for (int64_t v = 0; v < c.num_v; ++v) {
        values.back().push_back(draw(c.value_type));
        needles.push_back(format(
            kNeedle,
            {{"type_needle_v", type_v}, {"key", keys.back()}, {"value", values.back().back()}}));
      }
    }
    Rng(seed_).shuffle(needles);  // random.Random(seed).shuffle: one permutation for every sample
    std::string context;
    nlohmann::json depths = nlohmann::json::array();
    if (c.haystack == "essay") {
      if (data_->essay.empty()) data_->essay = load_essay_words(data_dir_);
      std::vector<std::string> sents = split_sentences(data_->essay, size_t(units));
      std::vector<int64_t> grid = depth_grid(), pos;
      for (int64_t i : rng.sample(int64_t(grid.size()), int64_t(needles.size()))) {
        depths.push_back(grid[size_t(i)]);
        pos.push_back(int64_t(double(sents.size()) * (double(grid[size_t(i)]) / 100)));
      }
      std::sort(pos.begin(), pos.end());
      pos.insert(pos.begin(), 0);
      pos.push_back(int64_t(sents.size()));
      std::vector<std::string> parts;
      for (size_t i = 1; i < pos.size(); ++i) {
        std::vector<std::string> chunk(sents.begin() + pos[i - 1], sents.begin() + pos[i]);
        parts.push_back(join(chunk, " "));
        if (i - 1 < needles.size()) parts.push_back(needles[i - 1]);
      }
      context = join(parts, " ");
    } else {
      std::vector<std::string> lines;
      for (int64_t i = 0; i < units; ++i) {
        if (c.haystack == "noise") {
          lines.emplace_back(kNoise);
        } else {
          std::string k = draw(c.key_type), v = draw(c.value_type);
          lines.push_back(format(kNeedle, {{"type_needle_v", type_v}, {"key", k}, {"value", v}}));
        }
      }
      std::vector<int64_t> idx = rng.sample(units, int64_t(needles.size()));
      std::sort(idx.rbegin(), idx.rend());
      for (size_t i = 0; i < idx.size(); ++i) {
        lines.insert(lines.begin() + idx[i], needles[i]);
        depths.push_back(double(idx[i]) / double(units) * 100);
      }
      context = join(lines, "\n");
    }
    std::vector<int64_t> queried = rng.sample(num_k, c.num_q);
    std::vector<std::string> queries;
    for (int64_t q : queried) {
      queries.push_back(keys[size_t(q)]);
      for (const auto& v : values[size_t(q)]) out.answers.push_back(v);
    }
    std::string query = queries.back();
    if (queries.size() > 1) {
      std::vector<std::string> head(queries.begin(), queries.end() - 1);
      query = join(head, ", ") + ", and " + queries.back();
    }
    std::string tpl(kNiahTemplate), prefix(kNiahPrefix);
    if (c.num_q * c.num_v == 1) {  // niah.py's singular rewrite, applied to template and prefix
      for (std::string* s : {&tpl, &prefix}) {
        *s = replace_all(*s, "Some", "A");
        *s = replace_all(*s, "are all", "is");
        *s = replace_all(*s, "are", "is");
        *s = replace_all(*s, "answers", "answer");
      }
      type_v.pop_back();
    }
    out.body = format(tpl, {{"type_needle_v", type_v}, {"context", context}, {"query", query}});
    out.answer_prefix = format(prefix, {{"type_needle_v", type_v}, {"query", query}});
    out.extra["depths"] = depths;
  } else if (task.family == "vt") {
    auto chain = [&](Rng& r, int64_t noise_lines, bool icl, std::vector<std::string>& names) {
      size_t len = icl ? 3 : 5;
      std::set<std::string> seen;
      while (names.size() < 5) {
        std::string n = random_upper(r, len);
        if (seen.insert(n).second) names.push_back(n);
      }
      std::string value = icl ? "12345" : std::to_string(r.range(10000, 99998));
      std::vector<std::string> lines_c = {"VAR " + names[0] + " = " + value};
      for (size_t j = 0; j + 1 < names.size(); ++j)
        lines_c.push_back("VAR " + names[j + 1] + " = VAR " + names[j] + " ");
      std::vector<std::string> lines(static_cast<size_t>(noise_lines), std::string{kNoise});
      std::vector<int64_t> pos = r.sample(noise_lines, int64_t(lines_c.size()));
      std::sort(pos.begin(), pos.end());
      for (size_t j = 0; j < pos.size(); ++j)
        lines.insert(lines.begin() + pos[j] + int64_t(j), lines_c[j]);
      std::string context = replace_all(join(lines, "\n"), ". \n", ".\n");
      return std::pair{format(kVtTemplate, {{"context", context}, {"query", value}}),
                       format(kVtPrefix, {{"num_v", "5"}, {"query", value}})};
    };
    if (!data_->vt_example) {
      // The one-shot example: 3-letter names, value 12345, fitted to 500 tokens of plain text.
      auto example_with = [&](int64_t n) {
        Rng r(Rng::derive(seed_, "vt/example"));
        std::vector<std::string> names;
        auto [body, prefix] = chain(r, n, true, names);
        return body + prefix + " " + join(names, " ") + "\n";
      };
      int64_t lo = 5, best = 5;
      int64_t hi = std::max<int64_t>(
          10,
          3 * 500 * 5 /
              std::max<int64_t>(
                  1, int64_t(format_.tokenizer().encode(example_with(5), false, false).size())));
      while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (int64_t(format_.tokenizer().encode(example_with(mid), false, false).size()) <= 500)
          best = mid, lo = mid + 1;
        else
          hi = mid - 1;
      }
      data_->vt_example = example_with(best);
    }
    // randomize_icl: new names of the same length for the example's answers, a new value.
    std::string example = *data_->vt_example;
    std::vector<std::string> toks = split_whitespace(example);  // icl_example.split()
    for (size_t k = toks.size() - 5; k < toks.size(); ++k)
      example = replace_all(example, toks[k], random_upper(rng, toks[k].size()));
    example = replace_all(example, "12345", std::to_string(rng.range(10000, 99998)));
    std::vector<std::string> names;
    auto [body, prefix] = chain(rng, units, false, names);
    out.body = example + "\n" + body;
    out.answer_prefix = prefix;
    out.answers = names;
  } else if (task.family == "cwe") {
    if (data_->cwe_pool.empty()) {
      const WordLists& w = words();
      std::set<std::string> all(w.nouns.begin(), w.nouns.end());
      all.insert(w.adjectives.begin(), w.adjectives.end());
      all.insert(w.verbs.begin(), w.verbs.end());
      data_->cwe_pool.assign(all.begin(), all.end());
      Rng(seed_).shuffle(data_->cwe_pool);
    }
    const auto& pool = data_->cwe_pool;
    auto example = [&](int64_t n, int64_t common_rep, int64_t uncommon_rep) {
      if (n > int64_t(pool.size()))
        throw Error("cwe needs " + std::to_string(n) +
                    " distinct words at this length; the word lists hold " +
                    std::to_string(pool.size()));
      std::vector<std::string> picked;
      for (int64_t i : rng.sample(int64_t(pool.size()), n)) picked.push_back(pool[size_t(i)]);
      std::vector<std::string> common(picked.begin(), picked.begin() + 10), list;
      for (int64_t r = 0; r < common_rep; ++r)
        list.insert(list.end(), common.begin(), common.end());
      for (int64_t r = 0; r < uncommon_rep; ++r)
        list.insert(list.end(), picked.begin() + 10, picked.end());
      Rng(seed_).shuffle(list);
      std::string context;
      for (size_t i = 0; i < list.size(); ++i)
        context += (i ? " " : "") + std::to_string(i + 1) + ". " + list[i];
      return std::pair{context, common};
    };
    bool short_ctx = length < 4096;
    auto [ex_context, ex_answer] = short_ctx ? example(20, 3, 1) : example(40, 10, 3);
    auto [context, answer] = short_ctx ? example(units, 6, 1) : example(units, 30, 3);
    std::string shot = format(kCweTemplate, {{"context", ex_context}}) + std::string(kCwePrefix);
    for (size_t i = 0; i < ex_answer.size(); ++i)
      shot += " " + std::to_string(i + 1) + ". " + ex_answer[i];
    out.body = shot + "\n" + format(kCweTemplate, {{"context", context}});
    out.answer_prefix = kCwePrefix;
    out.answers = answer;
  } else if (task.family == "fwe") {
    int64_t vocab_size = std::max<int64_t>(4, (length - task.max_new_tokens) / 50);
    std::set<std::string> vocab_set;
    while (int64_t(vocab_set.size()) < vocab_size) {
      std::string w;
      for (int k = 0; k < 6; ++k) w += char('a' + rng.below(26));
      vocab_set.insert(w);
    }
    std::vector<std::string> vocab(vocab_set.begin(), vocab_set.end());
    Rng(seed_).shuffle(vocab);
    vocab[0] = "...";                                                   // the top rank is noise
    constexpr double kZeta2 = std::numbers::pi * std::numbers::pi / 6;  // alpha = 2
    std::vector<std::string> list;
    for (size_t k = 0; k < vocab.size(); ++k) {
      auto n = int64_t(double(units) * std::pow(double(k + 1), -2.0) / kZeta2);
      for (int64_t r = 0; r < n; ++r) list.push_back(vocab[k]);
    }
    Rng(seed_).shuffle(list);
    out.body = format(kFweTemplate, {{"context", join(list, " ")}});
    out.answer_prefix = kFwePrefix;
    out.answers = {vocab[1], vocab[2], vocab[3]};
  } else {  // qa
    bool squad = task.name == "qa_1";
    std::optional<QaSet>& slot = squad ? data_->squad : data_->hotpot;
    if (!slot) slot = squad ? load_squad(data_dir_) : load_hotpotqa(data_dir_);
    const QaSet& set = *slot;
    if (index >= int64_t(set.items.size()))
      throw Error(std::string(task.name) + ": sample " + std::to_string(index) +
                  " needs question " + std::to_string(index + 1) + " but the file has " +
                  std::to_string(set.items.size()));
    const QaItem& q = set.items[size_t(index)];
    std::vector<int64_t> picked = q.docs;
    int64_t n_docs = int64_t(set.docs.size()),
            want = std::max<int64_t>(units, int64_t(q.docs.size()));
    if (want < n_docs) {
      int64_t extra = want - int64_t(q.docs.size());
      if (extra > int64_t(q.more.size())) {  // every same-article document, then random others
        picked.insert(picked.end(), q.more.begin(), q.more.end());
        std::set<int64_t> used(picked.begin(), picked.end());
        std::vector<int64_t> rest;
        for (int64_t i = 0; i < n_docs; ++i)
          if (!used.count(i)) rest.push_back(i);
        for (int64_t i : rng.sample(int64_t(rest.size()), want - int64_t(picked.size())))
          picked.push_back(rest[size_t(i)]);
      } else {
        for (int64_t i : rng.sample(int64_t(q.more.size()), extra))
          picked.push_back(q.more[size_t(i)]);
      }
    } else {
      picked.clear();
      for (int64_t i = 0; i < want; ++i) picked.push_back(i % n_docs);
    }
    std::vector<std::string> docs;
    for (int64_t i : picked) docs.push_back(set.docs[size_t(i)]);
    Rng(seed_).shuffle(docs);
    std::string context;
    for (size_t i = 0; i < docs.size(); ++i)
      context += (i ? "\n\n" : "") + ("Document " + std::to_string(i + 1) + ":\n") + docs[i];
    out.body = format(kQaTemplate, {{"context", context}, {"query", q.question}});
    out.answer_prefix = kQaPrefix;
    out.answers = q.answers;
  }
  out.extra["units"] = units;
  return out;
}

}  // namespace longctx::eval

namespace longctx::eval {

// The largest unit count whose prompt plus generation budget fits `length`: estimate tokens per
// unit, then binary search between one increment and three times the estimate (niah.py's search),
// doubled while it still fits.
int64_t RulerGenerator::fit_units(const RulerTask& task, int64_t length) {
  auto key = std::pair{std::string(task.name), length};
  if (auto it = fitted_.find(key); it != fitted_.end()) return it->second;
  int64_t inc = incremental(task, length);
  uint64_t seed =
      Rng::derive(seed_, "fit/" + std::string(task.name) + "/" + std::to_string(length));
  auto fits = [&](int64_t units) {
    return count_tokens(text(task.name, units, length, seed, 0)) + task.max_new_tokens <= length;
  };
  double per_unit = double(count_tokens(text(task.name, inc, length, seed, 0))) / double(inc);
  int64_t lo = inc, hi = std::max(int64_t(double(length) / per_unit * 3), 2 * inc), best = inc;
  while (fits(hi)) lo = best = hi, hi *= 2;  // the estimate can be low where a template dominates
  while (lo <= hi) {
    int64_t mid = (lo + hi) / 2;
    if (fits(mid))
      best = mid, lo = mid + 1;
    else
      hi = mid - 1;
  }
  fitted_[key] = best;
  return best;
}

EvalSample RulerGenerator::sample(std::string_view task_name, int64_t length, int64_t index,
                                  TaskText* text_out) {
  const RulerTask& task = ruler_task(task_name);
  int64_t units = fit_units(task, length), inc = incremental(task, length);
  uint64_t seed = Rng::derive(
      seed_, std::string(task.name) + "/" + std::to_string(length) + "/" + std::to_string(index));
  while (true) {
    TaskText t = text(task.name, units, length, seed, index);
    std::vector<int32_t> tokens = format_.encode(t.body, t.answer_prefix);
    if (int64_t(tokens.size()) + task.max_new_tokens <= length) {
      EvalSample s;
      s.benchmark = "ruler";
      s.task = task.name;
      s.length = length;
      s.index = index;
      s.tokens = std::move(tokens);
      s.max_new_tokens = task.max_new_tokens;
      s.metric = task.metric;
      s.answers = t.answers;
      s.extra = t.extra;
      s.extra["answer_prefix"] = t.answer_prefix;
      if (text_out) *text_out = std::move(t);
      return s;
    }
    if (units <= inc) {
      throw Error("RULER " + std::string(task.name) + " does not fit in " + std::to_string(length) +
                  " tokens: its smallest prompt takes " + std::to_string(tokens.size()) + " plus " +
                  std::to_string(task.max_new_tokens) + " to generate");
    }
    units = std::max(inc, units - inc);
  }
}

}  // namespace longctx::eval
