// A bounded, deterministic fuzz run of every JSON reader a user feeds, under AddressSanitizer and
// UBSan: config.json, tokenizer.json, tokenizer_config.json and generation_config.json of a valid
// Hugging Face folder (tests/hf_folder_builder.h), an --attn-config file, LongBench JSONL rows,
// RULER JSONL rows (eval ruler --data) and eval prediction lines. Each input is damaged at the
// level of JSON values (a field replaced by a value of another type, an absurd number, null; a
// field removed) or of bytes; every one must end in a longctx::Error or a valid result, never
// another exception, a sanitizer report or a huge allocation (ASan's allocator fails a request over
// its limit loudly).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "engine/attention/registry.h"
#include "eval/longbench.h"
#include "eval/longbench_v2.h"
#include "eval/results.h"
#include "eval/ruler_jsonl.h"
#include "eval/sample.h"
#include "models/model.h"
#include "serve/api.h"
#include "support/error.h"
#include "tests/hf_folder_builder.h"
#include "tokenizer/tokenizer.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::mt19937_64 rng(23);

json random_value() {
  switch (rng() % 12) {
    case 0:
      return nullptr;
    case 1:
      return "x";
    case 2:
      return "";
    case 3:
      return -1;
    case 4:
      return int64_t(1) << 62;
    case 5:
      return uint64_t(1) << 63;
    case 6:
      return 0;
    case 7:
      return 1e308;
    case 8:
      return json::array({1, "a", nullptr});
    case 9:
      return json::object({{"type", 3}});
    case 10:
      return true;
    default:
      return int64_t(rng() % 70000) - 100;
  }
}

// Every value's address in `j`, depth first.
void collect(json& j, std::vector<json*>& out) {
  out.push_back(&j);
  if (j.is_object())
    for (auto& [k, v] : j.items()) collect(v, out);
  else if (j.is_array())
    for (auto& v : j) collect(v, out);
}

// One to three damages of a JSON value: a value replaced, a key removed, or the text's bytes.
std::string damage(json j) {
  for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k) {
    std::vector<json*> all;
    collect(j, all);
    json* target = all[rng() % all.size()];
    if (rng() % 4 == 0 && target->is_object() && !target->empty()) {
      auto it = target->begin();
      std::advance(it, long(rng() % target->size()));
      target->erase(it.key());
    } else {
      *target = random_value();
    }
  }
  std::string text = j.dump();
  if (rng() % 4 == 0) {  // and sometimes the bytes too
    for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k) text[rng() % text.size()] = char(rng());
  }
  return text;
}

struct Tally {
  const char* what;
  size_t accepted = 0, rejected = 0, failures = 0;
  void run(const std::function<void()>& f) {
    try {
      f();
      ++accepted;
    } catch (const longctx::Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      ++failures;
      std::fprintf(stderr, "FAIL (%s): unexpected exception: %s\n", what, e.what());
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  const size_t runs = argc > 1 ? std::stoul(argv[1]) : 600;
  const fs::path dir = fs::temp_directory_path() / "longctx-json-fuzz";
  const longctx::test::HfFolder base;
  std::vector<Tally> tallies;

  // The model folder: each of its JSON files in turn.
  const char* files[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                         "generation_config.json"};
  for (const char* file : files) {
    Tally t{file};
    for (size_t i = 0; i < runs; ++i) {
      base.write(dir / "model");
      const json original = file == std::string("config.json")             ? base.config
                            : file == std::string("tokenizer.json")        ? base.tokenizer
                            : file == std::string("tokenizer_config.json") ? base.tokenizer_config
                                                                           : base.generation_config;
      std::ofstream(dir / "model" / file) << damage(original);
      t.run([&] {
        auto model = longctx::load_model((dir / "model").string());
        auto tok = longctx::tokenizer::Tokenizer::create(model->vocab);
        tok->decode(tok->encode("abcd ab", true, false));
      });
    }
    tallies.push_back(t);
  }

  // config.json of the newer architectures and rope scalings, so their keys are damaged too:
  // Gemma 2's soft-caps and alternating windows, llama3 and yarn rope_scaling, SmolLM3's NoPE
  // layer list and its window on them, Mixtral's routed experts.
  {
    Tally t{"config.json (gemma2, llama3, yarn, smollm3, mixtral)"};
    longctx::test::HfFolder gemma2 = base, llama3 = base, yarn = base, smollm3 = base;
    const longctx::test::HfFolder mixtral({}, 4);
    smollm3.config["architectures"] = {"SmolLM3ForCausalLM"};
    smollm3.config["no_rope_layers"] = {0};
    smollm3.config["no_rope_layer_interval"] = 4;
    smollm3.config["use_sliding_window"] = true;
    smollm3.config["sliding_window"] = 4;
    smollm3.config["layer_types"] = {"sliding_attention"};
    gemma2.config["architectures"] = {"Gemma2ForCausalLM"};
    gemma2.config["head_dim"] = 4;
    gemma2.config["sliding_window"] = 4;
    gemma2.config["query_pre_attn_scalar"] = 4;
    gemma2.config["attn_logit_softcapping"] = 50.0;
    gemma2.config["final_logit_softcapping"] = 30.0;
    llama3.config["rope_scaling"] = {{"rope_type", "llama3"},
                                     {"factor", 8.0},
                                     {"low_freq_factor", 1.0},
                                     {"high_freq_factor", 4.0},
                                     {"original_max_position_embeddings", 32}};
    yarn.config["rope_scaling"] = {
        {"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}};
    for (size_t i = 0; i < runs; ++i) {
      const longctx::test::HfFolder& f = i % 5 == 0   ? gemma2
                                         : i % 5 == 1 ? llama3
                                         : i % 5 == 2 ? yarn
                                         : i % 5 == 3 ? smollm3
                                                      : mixtral;
      f.write(dir / "model");
      std::ofstream(dir / "model" / "config.json") << damage(f.config);
      t.run([&] { (void)longctx::load_model((dir / "model").string()); });
    }
    tallies.push_back(t);
  }

  // --attn-config.
  {
    Tally t{"--attn-config"};
    const json preset = {{"description", "x"},
                         {"default", "quest:budget=64,page=8"},
                         {"layers", {{"0", "dense"}, {"1", "h2o:budget=32"}}}};
    for (size_t i = 0; i < runs; ++i) {
      std::ofstream(dir / "attn.json") << damage(preset);
      t.run([&] { longctx::policies_from_config_file((dir / "attn.json").string(), 4); });
    }
    tallies.push_back(t);
  }

  // LongBench rows and prediction lines.
  {
    auto model = longctx::load_model(base.write(dir / "model"));
    auto tok = longctx::tokenizer::Tokenizer::create(model->vocab);
    longctx::eval::PromptFormat format(*tok, std::nullopt);
    const json row = {{"input", "Question: ab?"}, {"context", "abcd ab cd"},
                      {"answers", {"ab"}},        {"length", 3},
                      {"all_classes", nullptr},   {"_id", "x"}};
    Tally rows{"LongBench JSONL"};
    for (size_t i = 0; i < runs; ++i) {
      std::ofstream(dir / "hotpotqa.jsonl") << damage(row) << "\n" << row.dump() << "\n";
      rows.run([&] {
        longctx::eval::longbench_samples(longctx::eval::longbench_dataset("hotpotqa"), {dir, false},
                                         format, 64, 1024, 0);
      });
    }
    tallies.push_back(rows);
    // longctx serve's request bodies.
    const json completion = {{"prompt", {"ab", "cd"}},
                             {"max_tokens", 4},
                             {"temperature", 0.5},
                             {"stop", {"x"}},
                             {"logprobs", 2},
                             {"echo", true},
                             {"attention", "h2o:budget=8"},
                             {"stream_options", {{"include_usage", true}}}};
    const json chat = {{"messages",
                        {{{"role", "system"}, {"content", "s"}},
                         {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "ab"}}}}}}},
                       {"max_completion_tokens", 3},
                       {"top_p", 0.9},
                       {"seed", 7},
                       {"stream", true}};
    const auto tmpl = longctx::tokenizer::ChatTemplate::named("chatml", tok->vocab());
    const longctx::serve::ApiLimits limits{64};
    Tally api{"serve request bodies"};
    for (size_t i = 0; i < runs; ++i) {
      const std::string body = damage(i % 2 ? chat : completion);
      api.run([&] {
        json j;
        try {  // as the server answers a body that is not JSON
          j = json::parse(body);
        } catch (const json::exception& e) {
          throw longctx::serve::ApiError(400, e.what());
        }
        if (i % 2)
          longctx::serve::parse_chat(j, *tok, tmpl, limits);
        else
          longctx::serve::parse_completion(j, *tok, limits);
      });
    }
    tallies.push_back(api);
    // LongBench v2's data.json.
    const json question = {{"_id", "q"},           {"domain", "d"},     {"sub_domain", "s"},
                           {"difficulty", "easy"}, {"length", "short"}, {"question", "ab?"},
                           {"choice_A", "ab"},     {"choice_B", "cd"},  {"choice_C", "a"},
                           {"choice_D", "b"},      {"answer", "A"},     {"context", "abcd ab cd"}};
    Tally v2{"LongBench v2 data.json"};
    for (size_t i = 0; i < runs; ++i) {
      std::ofstream(dir / "data.json") << "[" << question.dump() << "," << damage(question) << "]";
      v2.run([&] { longctx::eval::longbench_v2_samples({dir, i % 2 == 1, 0}, format, 2048, 0); });
    }
    tallies.push_back(v2);
    // RULER's prepared samples (eval ruler --data).
    const json ruler = {
        {"index", 0},   {"input", "VAR AB = 1. Which hold 1?"}, {"outputs", {"AB"}},
        {"length", 40}, {"answer_prefix", " Answer:"},          {"others", {{"depths", {50}}}}};
    Tally ruler_rows{"RULER JSONL"};
    longctx::eval::RulerFileOptions ro;
    ro.length = 64;
    ro.context = 64;
    for (size_t i = 0; i < runs; ++i) {
      std::ofstream(dir / "vt.jsonl") << ruler.dump() << "\n" << damage(ruler) << "\n";
      ruler_rows.run([&] {
        longctx::eval::read_ruler_file(dir / "vt.jsonl", longctx::eval::ruler_task("vt"), format,
                                       ro);
      });
    }
    tallies.push_back(ruler_rows);
    const json pred = {{"id", "ruler/vt/4096/0"},
                       {"benchmark", "ruler"},
                       {"task", "vt"},
                       {"length", 4096},
                       {"mode", "dense"},
                       {"pred", "A B"},
                       {"answers", {"A", "C"}},
                       {"metric", "string_match_all"},
                       {"extra", {{"depth", 50}}}};
    Tally preds{"predictions JSONL"};
    for (size_t i = 0; i < runs; ++i) {
      std::ofstream(dir / "predictions.jsonl") << damage(pred) << "\n" << pred.dump() << "\n";
      preds.run([&] {
        auto p = longctx::eval::read_predictions({dir / "predictions.jsonl"});
        longctx::eval::score_predictions(p);
      });
    }
    tallies.push_back(preds);
  }

  size_t failures = 0;
  bool each_side = true;
  for (const Tally& t : tallies) {
    std::printf(
        "json fuzz corpus %-22s: %zu inputs, %zu accepted, %zu rejected with a clear error, "
        "%zu failures\n",
        t.what, t.accepted + t.rejected + t.failures, t.accepted, t.rejected, t.failures);
    failures += t.failures;
    each_side &= t.rejected > 0;
  }
  fs::remove_all(dir);
  return failures == 0 && each_side ? 0 : 1;
}
