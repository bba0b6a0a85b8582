// Scoring and storage of evaluation results: aggregation as the official scripts do it, the
// ratio to dense, LongBench's category mean, de-duplication and a killed run's partial line.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "eval/intervals.h"
#include "eval/plots.h"
#include "eval/results.h"
#include "support/error.h"

using namespace longctx::eval;
using nlohmann::json;

namespace {

json pred(std::string bench, std::string task, std::string mode, int64_t index, std::string text,
          std::vector<std::string> answers, std::string metric, std::string category = "") {
  json p = {{"id", bench + "/" + task + "/4096/" + std::to_string(index)},
            {"benchmark", bench},
            {"task", task},
            {"length", 4096},
            {"index", index},
            {"mode", mode},
            {"pred", text},
            {"answers", answers},
            {"metric", metric},
            {"prompt_tokens", 4000},
            {"decode_steps", 10},
            {"prefill_ms", 1000.0},
            {"decode_ms", 500.0},
            {"kv_held_bytes", 1048576.0}};
  if (!category.empty()) p["extra"] = {{"category", category}};
  return p;
}

}  // namespace

TEST_CASE("scores aggregate per task, length and mode, rounded as the official scripts", "[eval]") {
  std::vector<json> preds = {
      pred("ruler", "niah_single_1", "dense", 0, " 123.", {"123"}, "string_match_all"),
      pred("ruler", "niah_single_1", "dense", 1, " 456.", {"456"}, "string_match_all"),
      pred("ruler", "niah_single_1", "dense", 2, "no", {"789"}, "string_match_all"),
      pred("ruler", "niah_single_1", "h2o", 0, "123", {"123"}, "string_match_all"),
      pred("ruler", "niah_single_1", "h2o", 1, "", {"456"}, "string_match_all"),
      pred("ruler", "niah_single_1", "h2o", 2, "no", {"789"}, "string_match_all"),
      pred("ruler", "vt", "dense", 0, "A B", {"A", "B", "C", "D"}, "string_match_all"),
  };
  json scores = score_predictions(preds);
  std::map<std::string, json> rows;
  for (const auto& r : scores["rows"])
    rows[r["task"].get<std::string>() + " " + r["mode"].get<std::string>()] = r;
  CHECK(rows["niah_single_1 dense"]["score"] == 66.67);  // round(100 * 2/3, 2)
  CHECK(rows["niah_single_1 h2o"]["score"] == 33.33);
  CHECK(rows["niah_single_1 h2o"]["nulls"] == 1);
  CHECK(rows["niah_single_1 h2o"]["vs_dense"].get<double>() == Approx(33.33 / 66.67));
  CHECK(rows["vt dense"]["score"] == 50.0);
  CHECK(rows["niah_single_1 dense"]["decode_tokens_per_s"].get<double>() == Approx(20.0));
  CHECK(rows["niah_single_1 dense"]["prefill_tokens_per_s"].get<double>() == Approx(4000.0));
  bool found = false;
  for (const auto& a : scores["averages"])
    if (a["mode"] == "dense") {
      CHECK(a["score"].get<double>() == Approx((66.67 + 50.0) / 2).margin(0.01));
      found = true;
    }
  CHECK(found);
  CHECK(preds[0]["score"] == 1.0);  // each prediction carries its score
  std::string table = format_table(scores);
  CHECK(table.find("niah_single_1") != std::string::npos);
  CHECK(plot_scores_svg(scores, "t").find("<polyline") != std::string::npos);
}

TEST_CASE("LongBench's overall score is the mean of category means", "[eval]") {
  std::vector<json> preds = {
      pred("longbench", "hotpotqa", "dense", 0, "Paris", {"Paris"}, "qa_f1_score", "Multi-Doc QA"),
      pred("longbench", "musique", "dense", 0, "x", {"Rome"}, "qa_f1_score", "Multi-Doc QA"),
      pred("longbench", "passage_count", "dense", 0, "3", {"3"}, "count_score", "Synthetic"),
  };
  json scores = score_predictions(preds);
  REQUIRE(scores["averages"].size() == 1);
  CHECK(scores["averages"][0]["score"] ==
        75.0);  // (mean(100, 0) + 100) / 2, not (100 + 0 + 100) / 3
}

TEST_CASE("prediction files: de-duplicated, a killed run's last line dropped, damage reported",
          "[eval]") {
  auto dir = std::filesystem::temp_directory_path() / "longctx-eval-results-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  json a = pred("ruler", "vt", "dense", 0, "A", {"A"}, "string_match_all");
  {
    std::ofstream f(dir / "predictions.shard-1-of-2.jsonl");
    f << a.dump() << "\n"
      << a.dump() << "\n"
      << "{\"id\": \"trunc";  // partial last line
    std::ofstream g(dir / "predictions.shard-2-of-2.jsonl");
    g << pred("ruler", "vt", "h2o", 0, "A", {"A"}, "string_match_all").dump() << "\n";
    std::ofstream other(dir / "notes.jsonl");
    other << "not a prediction\n";
  }
  auto files = prediction_files(dir);
  CHECK(files.size() == 2);
  CHECK(read_predictions(files).size() == 2);
  {
    std::ofstream f(dir / "predictions.jsonl");
    f << "{\"id\": 1}\n" << a.dump() << "\n";
  }
  CHECK_THROWS_WITH(read_predictions({dir / "predictions.jsonl"}),
                    Catch::Contains("predictions.jsonl:1: not a prediction"));
  CHECK_THROWS_WITH(prediction_files(dir / "nope"), Catch::Contains("not a directory"));
}

TEST_CASE("damaged prediction lines give an error or a prediction, never a crash", "[eval]") {
  auto dir = std::filesystem::temp_directory_path() / "longctx-eval-fuzz-test";
  std::filesystem::create_directories(dir);
  json good = pred("longbench", "trec", "dense", 0, "City", {"City"}, "classification_score");
  good["all_classes"] = {"City", "Country"};
  good["first_line"] = true;
  good["extra"] = {{"category", "Few-shot"}, {"depth", 50}};
  const std::string line = good.dump();
  uint64_t state = 12345;
  auto rnd = [&] {
    return state = state * 6364136223846793005ull + 1442695040888963407ull, state >> 33;
  };
  int64_t parsed = 0, rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bad = line;
    for (int k = 0, n = 1 + int(rnd() % 4); k < n; ++k) {
      size_t at = rnd() % bad.size();
      switch (rnd() % 3) {
        case 0:
          bad[at] = char(rnd() % 128);
          break;
        case 1:
          bad.erase(at, 1 + rnd() % 8);
          break;
        default:
          bad.insert(at, std::string(1, "\"{}[]:,0a\\"[rnd() % 10]));
          break;
      }
    }
    {
      std::ofstream f(dir / "predictions.jsonl");
      f << bad << "\n" << line << "\n";
    }
    try {
      auto preds = read_predictions({dir / "predictions.jsonl"});
      score_predictions(preds);
      ++parsed;
    } catch (const longctx::Error&) {
      ++rejected;
    }
  }
  CHECK(parsed + rejected == 2000);
  CHECK(rejected > 100);
}

TEST_CASE("task scores round half to even, as Python's round(x, 2)", "[eval]") {
  // 17 of 32 right: 53.125 exactly; Python gives 53.12 (ties to even), half-up would give 53.13.
  std::vector<json> preds;
  for (int i = 0; i < 32; ++i)
    preds.push_back(
        pred("ruler", "niah_single_1", "dense", i, i < 17 ? "7" : "x", {"7"}, "string_match_all"));
  // LongBench the same way: 1 of 8 = 12.5 and 3 of 8 = 37.5 are exact and stay; 1 of 16 of 100
  // = 6.25 -> 6.25; 1 of 32 = 3.125 -> 3.12.
  for (int i = 0; i < 32; ++i)
    preds.push_back(pred("longbench", "passage_count", "dense", i, i < 1 ? "3" : "4", {"3"},
                         "count_score", "Synthetic"));
  json scores = score_predictions(preds);
  std::map<std::string, double> by_task;
  for (const auto& r : scores["rows"]) by_task[r["task"]] = r["score"];
  CHECK(by_task["niah_single_1"] == 53.12);
  CHECK(by_task["passage_count"] == 3.12);
}

TEST_CASE("a torn last line is cut off before a resumed run appends", "[eval]") {
  auto dir = std::filesystem::temp_directory_path() / "longctx-eval-torn-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = dir / "predictions.jsonl";
  json a = pred("ruler", "vt", "dense", 0, "A", {"A"}, "string_match_all");
  json b = pred("ruler", "vt", "dense", 1, "B", {"B"}, "string_match_all");
  {
    std::ofstream f(file);
    f << a.dump() << "\n" << b.dump().substr(0, 40);  // killed while writing b
  }
  CHECK(drop_torn_last_line(file) == 40);
  CHECK(drop_torn_last_line(file) == 0);  // a whole file is left alone
  {
    std::ofstream f(file, std::ios::app);  // the resumed run redoes b
    f << b.dump() << "\n";
  }
  auto preds = read_predictions({file});
  REQUIRE(preds.size() == 2);
  CHECK(preds[1]["pred"] == "B");
  // A file that is one partial line becomes empty; an empty one stays.
  {
    std::ofstream f(file);
    f << "{\"id\": \"tr";
  }
  CHECK(drop_torn_last_line(file) == 10);
  CHECK(std::filesystem::file_size(file) == 0);
  CHECK(drop_torn_last_line(file) == 0);
}

TEST_CASE("score intervals: Wilson for right/wrong, bootstrap otherwise", "[eval]") {
  // Reference values: Wilson's formula evaluated in Python (z = 1.959963984540054).
  auto w = wilson95(17, 32);
  CHECK(w.lo == Approx(0.3644951711897464).epsilon(1e-12));
  CHECK(w.hi == Approx(0.6913061289193116).epsilon(1e-12));
  CHECK(wilson95(0, 2).hi == Approx(0.6576197724933469).epsilon(1e-12));
  CHECK(wilson95(50, 100).lo == Approx(0.4038315303659956).epsilon(1e-12));
  // Fractional scores: the bootstrap holds the mean, narrows with more samples, reproduces.
  std::vector<double> few = {0.2, 0.5, 0.9, 0.4}, many;
  for (int i = 0; i < 25; ++i) many.insert(many.end(), few.begin(), few.end());
  auto a = score_interval95(few, 7), b = score_interval95(many, 7);
  CHECK(a.lo <= 0.5);
  CHECK(a.hi >= 0.5);
  CHECK(b.hi - b.lo < (a.hi - a.lo) / 3);
  CHECK(score_interval95(few, 7).lo == a.lo);
  CHECK(score_interval95({1, 0, 1, 1}, 7).lo == Approx(wilson95(3, 4).lo));
}

TEST_CASE("paired differences from dense: resolved only when the samples can tell", "[eval]") {
  // Two of two lost: the interval is wide and the sign test cannot reject (p = 0.5).
  auto two = paired_difference95({0, 0}, {1, 1}, 1);
  CHECK(two.mean == -1.0);
  CHECK(two.sign_test_p == Approx(0.5));
  CHECK(!two.resolved);
  // 30 pairs, the mode right on all, dense on 10: a 67-point gain, resolved.
  std::vector<double> mode(30, 1.0), dense(30, 0.0);
  std::fill(dense.begin(), dense.begin() + 10, 1.0);
  auto gain = paired_difference95(mode, dense, 1);
  CHECK(gain.mean == Approx(20.0 / 30));
  CHECK(gain.ci.lo > 0);
  CHECK(gain.ci.hi <= 1.0);
  CHECK(gain.sign_test_p == Approx(2 * std::pow(0.5, 20)));
  CHECK(gain.resolved);
  // Identical answers: no difference; and the sign of a loss is kept.
  auto same = paired_difference95(dense, dense, 1);
  CHECK(same.mean == 0.0);
  CHECK(!same.resolved);
  auto loss = paired_difference95(dense, mode, 1);
  CHECK(loss.ci.hi < 0);
  CHECK(loss.resolved);
  // Fractional scores pair by bootstrap: a constant +0.1 on 12 samples is resolved.
  std::vector<double> base = {0.1, 0.3, 0.5, 0.2, 0.4, 0.6, 0.1, 0.3, 0.5, 0.2, 0.4, 0.6}, up(base);
  for (double& x : up) x += 0.1;
  auto shift = paired_difference95(up, base, 3);
  CHECK(shift.ci.lo == Approx(0.1));
  CHECK(shift.resolved);
}

TEST_CASE("scores.json rows carry their interval and the paired difference from dense", "[eval]") {
  std::vector<json> preds;
  for (int i = 0; i < 12; ++i) {
    preds.push_back(pred("ruler", "niah_single_1", "dense", i, "7", {"7"}, "string_match_all"));
    preds.push_back(
        pred("ruler", "niah_single_1", "h2o", i, i < 2 ? "7" : "x", {"7"}, "string_match_all"));
  }
  json scores = score_predictions(preds);
  for (const auto& r : scores["rows"]) {
    REQUIRE(r.contains("ci95"));
    if (r["mode"] == "dense") {
      CHECK(r["ci95"][0].get<double>() == Approx(100 * wilson95(12, 12).lo).margin(0.01));
      CHECK(!r.contains("diff_vs_dense"));
    } else {
      CHECK(r["diff_vs_dense"] == Approx(-83.33).margin(0.01));
      CHECK(r["diff_n"] == 12);
      CHECK(r["diff_resolved"] == true);  // 10 of 10 untied pairs lost: p = 0.002
    }
  }
  std::string table = format_table(scores);
  CHECK(table.find("-83.3 [") != std::string::npos);
  CHECK(table.find("]*") != std::string::npos);
}

TEST_CASE("averages over tasks carry a stratified interval, drawn as error bars", "[eval]") {
  // One task: its own Wilson interval.
  const std::vector<double> nine_of_twelve = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
  Interval one = average_interval95({{nine_of_twelve}}, 1);
  CHECK(one.lo == Approx(wilson95(9, 12).lo));
  CHECK(one.hi == Approx(wilson95(9, 12).hi));
  // Two right/wrong tasks, 10 of 10 and 0 of 10: the average 0.5 with the Agresti-Coull variances
  // (12/14 and 2/14 over 14 each, weights 1/2): half-width 1.96 * sqrt(2 * (1/4) * (12*2/14^2)/14)
  // = 0.1297; narrower than Wilson's for 10 of 20 pooled ([0.30, 0.70]), never of zero width.
  const std::vector<double> all(10, 1.0), none(10, 0.0);
  Interval two = average_interval95({{all}, {none}}, 1);
  CHECK(two.lo == Approx(0.5 - 0.12966).margin(1e-4));
  CHECK(two.hi == Approx(0.5 + 0.12966).margin(1e-4));
  // LongBench's nesting: categories' means of task means (0.5 and 0.2 in one, 0.9 in the other:
  // 0.6), a bootstrap for partial scores, its interval around the average and inside the range.
  const std::vector<double> a = {0.4, 0.6, 0.5, 0.5}, b = {0.1, 0.3, 0.2, 0.2}, c = {0.8, 1.0, 0.9};
  Interval nested = average_interval95({{a, b}, {c}}, 7);
  CHECK(nested.lo < 0.6);
  CHECK(nested.hi > 0.6);
  CHECK(nested.lo > 0.45);
  CHECK(nested.hi < 0.75);
  // scores.json's averages carry it; the plot draws it.
  std::vector<json> preds;
  for (int i = 0; i < 10; ++i) {
    preds.push_back(pred("ruler", "niah_single_1", "dense", i, "7", {"7"}, "string_match_all"));
    preds.push_back(pred("ruler", "vt", "dense", i, "x", {"7"}, "string_match_all"));
  }
  json scores = score_predictions(preds);
  REQUIRE(scores["averages"].size() == 1);
  const json& avg = scores["averages"][0];
  CHECK(avg["score"] == Approx(50));
  CHECK(avg["ci95"][0] == Approx(100 * two.lo).margin(0.01));
  CHECK(avg["ci95"][1] == Approx(100 * two.hi).margin(0.01));
  std::string svg = plot_scores_svg(scores, "t");
  CHECK(svg.find("opacity='0.6'") != std::string::npos);  // the error bar
  CHECK(format_table(scores).find("score  50.00 [37.0, 63.0]") != std::string::npos);
}
