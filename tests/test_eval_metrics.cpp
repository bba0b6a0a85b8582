// The benchmark metrics against the official scoring code (LongBench eval.py/metrics.py with
// rouge 1.0.1 and fuzzywuzzy over difflib; RULER's constants.py), on the pairs that
// scripts/fixtures/make_metric_fixtures.py scored with that code.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/metrics.h"
#include "eval/text.h"

using namespace longctx::eval;

namespace {

nlohmann::json load_pairs() {
  std::ifstream in(std::string(LONGCTX_FIXTURES_DIR) + "/eval/metric_pairs.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

std::vector<std::string> strings(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& s : j) out.push_back(s.get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("every metric equals the official scoring code on the fixture pairs", "[eval]") {
  nlohmann::json fixture = load_pairs();
  const auto& pairs = fixture["pairs"];
  REQUIRE(pairs.size() >= 200);
  int64_t checked = 0, fractional = 0;
  for (const auto& p : pairs) {
    std::string metric = p["metric"];
    std::string pred = p["pred"];
    double expected = p["score"];
    double got = score_sample(metric, pred, strings(p["answers"]), strings(p["all_classes"]),
                              p.value("first_line", false));
    INFO(p["dataset"].get<std::string>() << " " << metric << " pred=" << pred.substr(0, 120)
                                         << " answers=" << p["answers"].dump().substr(0, 200));
    if (metric.starts_with("string_match")) {  // RULER's functions return round(100 x, 2)
      CHECK(std::round(got * 100 * 100) / 100 == Approx(expected * 100).margin(1e-9));
    } else {
      CHECK(got == Approx(expected).margin(1e-8));
    }
    if (p.contains("scorer")) {  // eval.py's dataset score of this one sample: round(100 x, 2)
      CHECK(std::round(got * 100 * 100) / 100 == Approx(p["scorer"].get<double>()).margin(1e-9));
    }
    fractional += expected > 0 && expected < 1;
    ++checked;
  }
  CHECK(checked == int64_t(pairs.size()));
  CHECK(fractional > 50);  // the fixture exercises partial credit, not only 0 and 1
}

TEST_CASE("difflib ratio: junk heuristic and matching blocks", "[eval]") {
  CHECK(sequence_matcher_ratio(U"abcd", U"bcde") == Approx(0.75));
  CHECK(sequence_matcher_ratio(U"", U"") == 1.0);
  CHECK(fuzz_ratio("", "") == 100);  // equality is checked before emptiness
  CHECK(fuzz_ratio("", "x") == 0);
  CHECK(fuzz_ratio("this is a test", "this is a test!") == 97);
  // 200+ characters in b: characters seen more than len/100 + 1 times leave the index, and
  // only extend a match found elsewhere (values from Python's difflib).
  std::u32string a(100, U'a'), b(250, U'a');
  CHECK(sequence_matcher_ratio(a, b) == Approx(200.0 / 350));
  CHECK(sequence_matcher_ratio(U"b" + a, U"c" + b) == 0.0);
}

TEST_CASE("Python string semantics the scorers rely on", "[eval]") {
  CHECK(lower("ÀÉÎ Ωmega МОСКВА ABC") == "àéî ωmega москва abc");
  CHECK(split_whitespace("\x1c a\u00a0b  c\n").size() == 3);
  CHECK(strip(" \t x y \n") == "x y");
  CHECK(normalize_answer("The Apple, an orange; A pear!") == "apple orange pear");
  CHECK(normalize_answer("another theme") == "another theme");
  CHECK(ruler_postprocess(" \x01"
                          "abc\x02"
                          "def \n") == "abc\ndef");
  CHECK(u32_to_utf8(utf8_to_u32("a\xff"
                                "b")) ==
        "a\xff"
        "b");  // stray bytes survive
  auto fields = [](std::string_view name) -> std::optional<std::string> {
    if (name == "context") return std::string("a {brace} stays");
    return std::nullopt;
  };
  CHECK(format_fields("Doc: {context}.", fields) == "Doc: a {brace} stays.");
  CHECK_THROWS_WITH(format_fields("{input}", fields), Catch::Contains("{input}"));
  CHECK(replace_all("are are", "are", "is") == "is is");
  CHECK_FALSE(known_metric("qa_f1_zh_score"));
  CHECK_THROWS(score_sample("bleu", "x", {"x"}, {}, false));
}
