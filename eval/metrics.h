// The scoring functions of RULER (scripts/eval/synthetic/constants.py, evaluate.py) and LongBench
// v1 (LongBench/metrics.py, eval.py), reproduced with their quirks (docs/eval.md lists them), and
// tests/test_eval_metrics.cpp, which checks
// every function against the official code's outputs on committed pairs
// (scripts/fixtures/make_metric_fixtures.py).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace longctx::eval {

// RULER's prediction clean-up: strip, every char in \x00-\x1f becomes \n, strip again.
std::string ruler_postprocess(std::string_view pred);
// Per sample, in [0, 1]: the fraction of references that occur in the prediction (case-insensitive
// substring) / whether any does. The benchmark's task score is 100 x the mean, rounded to 2 places.
double string_match_all(std::string_view pred, const std::vector<std::string>& refs);
double string_match_part(std::string_view pred, const std::vector<std::string>& refs);

// Passkey retrieval (landmark-attention run_test.py): the first integer in the output is the key.
double first_number_match(std::string_view pred, std::string_view truth);

// LongBench: lower, drop ASCII punctuation, articles (a, an, the) to spaces, collapse whitespace.
std::string normalize_answer(std::string_view s);
double qa_f1_score(std::string_view pred, std::string_view truth);
// pltrdy `rouge` 1.0.1 ROUGE-L (summary level, exclusive) F; 0 where that package raises (an empty
// side after splitting on '.', or a sentence pair deeper than Python's recursion limit).
double rouge_l_score(std::string_view pred, std::string_view truth);
double classification_score(std::string_view pred, std::string_view truth,
                            const std::vector<std::string>& all_classes);
double retrieval_score(std::string_view pred, std::string_view truth);  // "Paragraph N"
double count_score(std::string_view pred, std::string_view truth);
// The first line without ` # or //, then fuzzywuzzy's ratio (difflib, autojunk) / 100.
double code_sim_score(std::string_view pred, std::string_view truth);
// difflib.SequenceMatcher(None, a, b).ratio() over code points, and fuzz.ratio (0-100 integer).
double sequence_matcher_ratio(std::u32string_view a, std::u32string_view b);
int fuzz_ratio(std::string_view a, std::string_view b);

// LongBench v2 (pred.py's extract_answer): '*' removed, then the first "The correct answer is (X)"
// or, failing that, the first "The correct answer is X", X in A-D; nullopt when neither occurs.
std::optional<char> longbench_v2_extract(std::string_view response);

// A metric by its LongBench name ("qa_f1_score", "rouge_score", "classification_score",
// "retrieval_score", "count_score", "code_sim_score") or RULER's ("string_match_all",
// "string_match_part") or "longbench_v2_choice" (the extracted letter equals the answer). Chinese
// metrics (qa_f1_zh_score, rouge_zh_score, retrieval_zh_score) need the jieba segmenter and are not
// provided: known_metric() is false for them.
bool known_metric(std::string_view metric);
// One sample's score in [0, 1]: the max over the answers (LongBench) or the RULER rule over all of
// them; `first_line` applies LongBench's few-shot rule (score only the first line). Throws
// longctx::Error for an unknown metric.
double score_sample(std::string_view metric, std::string_view pred,
                    const std::vector<std::string>& answers,
                    const std::vector<std::string>& all_classes, bool first_line);

}  // namespace longctx::eval
