// Hostile inputs end in one longctx::Error naming the file and key, never an uncaught exception,
// a hang or an allocation sized by the hostile value: damaged Hugging Face JSON files (each
// field of a valid folder given a wrong type or an absurd value), --attn-config files, files that
// are not regular files, and text that is not UTF-8.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>

#include "engine/attention/registry.h"
#include "models/model.h"
#include "support/error.h"
#include "support/text_file.h"
#include "tests/hf_folder_builder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

using namespace longctx;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() / ("longctx-bad-inputs-" + name);
}

// Loads the folder and returns the error's message, or "" when it loaded.
std::string load_error(const test::HfFolder& folder) {
  std::string dir = folder.write(scratch("folder"));
  try {
    load_model(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the synthetic Hugging Face folder loads and tokenizes", "[bad_input]") {
  test::HfFolder folder;
  std::string dir = folder.write(scratch("valid"));
  auto model = load_model(dir);
  CHECK(model->config.n_layer == 1);
  auto tok = tokenizer::Tokenizer::create(model->vocab);
  CHECK(tok->encode("abcd", false, false) == std::vector<int32_t>{9});  // merged to "abcd"
  CHECK(tok->is_end_of_generation(11));
}

TEST_CASE("a tensor the recipe would not read is refused by name, never ignored", "[bad_input]") {
  // A Llama 3.x-style extra (its rope frequency factors) and a bias of a layer that has none.
  for (const char* extra : {"model.rope_freqs.weight", "model.layers.0.mlp.down_proj.bias"}) {
    INFO(extra);
    CHECK_THAT(load_error(test::HfFolder({extra})),
               Catch::Contains(std::string("tensor '") + extra +
                               "' is not one longctx's llama recipe reads"));
  }
  // What the config determines anyway (old checkpoints saved each layer's rotary frequencies).
  CHECK(load_error(test::HfFolder({"model.layers.0.self_attn.rotary_emb.inv_freq"})).empty());
  // Biases a llama checkpoint may carry are read.
  CHECK(load_error(test::HfFolder({"model.layers.0.self_attn.q_proj.bias"})).empty());
}

TEST_CASE("wrong JSON types and absurd values in a model folder name the file and key",
          "[bad_input]") {
  struct Case {
    const char* what;
    std::function<void(test::HfFolder&)> damage;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"rope factor as text",
       [](auto& f) {
         f.config["rope_scaling"] = {{"type", "linear"}, {"factor", "2"}};
       },
       "config.json: rope_scaling: key 'factor' is not a number"},
      {"rope type as a number",
       [](auto& f) {
         f.config["rope_scaling"] = {{"rope_type", 3}};
       },
       "key 'rope_type' is not a string"},
      {"rope scaling not an object", [](auto& f) { f.config["rope_scaling"] = "linear"; },
       "rope_scaling is not a JSON object"},
      {"a rope scaling not implemented",
       [](auto& f) {
         f.config["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 4.0}};
       },
       "rope_scaling: key 'rope_type' is 'dynamic', a rope scaling longctx does not implement"},
      {"longrope without its original context",
       [](auto& f) {
         f.config["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 4.0}};
       },
       "key 'original_max_position_embeddings' is missing"},
      {"longrope factors of the wrong length",
       [](auto& f) {
         f.config["original_max_position_embeddings"] = 16;
         f.config["rope_scaling"] = {
             {"rope_type", "longrope"}, {"short_factor", {1.0}}, {"long_factor", {1.0, 2.0}}};
       },
       "key 'short_factor' must be a list of 2 numbers"},
      {"a key the scaling does not take",
       [](auto& f) {
         f.config["rope_scaling"] = {{"rope_type", "yarn"},
                                     {"factor", 4.0},
                                     {"original_max_position_embeddings", 16},
                                     {"short_factor", {1.0}}};
       },
       "key 'short_factor' is not a parameter of rope scaling 'yarn'"},
      {"llama3 without its original context",
       [](auto& f) {
         f.config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
       },
       "key 'original_max_position_embeddings' must be positive"},
      {"yarn without truncation",
       [](auto& f) {
         f.config["rope_scaling"] = {{"rope_type", "yarn"},
                                     {"factor", 4.0},
                                     {"original_max_position_embeddings", 16},
                                     {"truncate", false}};
       },
       "key 'truncate' false is not implemented"},
      {"transformers 5 parameters with a scaling not implemented",
       [](auto& f) {
         f.config["rope_parameters"] = {{"rope_type", "dynamic"}, {"rope_theta", 1e4}};
       },
       "rope_parameters: key 'rope_type' is 'dynamic'"},
      // Activations the recipe does not run are refused, never run as another (gelu is erf's,
      // relu2 squared ReLU).
      {"an activation longctx does not run", [](auto& f) { f.config["hidden_act"] = "gelu"; },
       "config.json: key 'hidden_act' is 'gelu'; longctx runs llama with silu (or swish) only"},
      {"relu2", [](auto& f) { f.config["hidden_act"] = "relu2"; }, "key 'hidden_act' is 'relu2'"},
      // Values of the right type outside their range (the readers share one validation).
      {"context 0", [](auto& f) { f.config["max_position_embeddings"] = 0; },
       "key 'max_position_embeddings' must be positive"},
      {"rms eps 0", [](auto& f) { f.config["rms_norm_eps"] = 0.0; },
       "key 'rms_norm_eps' must be a number in (0, 1), got 0"},
      {"rms eps negative", [](auto& f) { f.config["rms_norm_eps"] = -1e-5; },
       "key 'rms_norm_eps' must be a number in (0, 1)"},
      {"rms eps absurd", [](auto& f) { f.config["rms_norm_eps"] = 1e30; },
       "key 'rms_norm_eps' must be a number in (0, 1)"},
      {"rope theta 0", [](auto& f) { f.config["rope_theta"] = 0.0; },
       "key 'rope_theta' must be a number above 1 and up to 1e15, got 0"},
      {"rope theta negative", [](auto& f) { f.config["rope_theta"] = -10000.0; },
       "key 'rope_theta' must be a number above 1"},
      {"rope theta absurd", [](auto& f) { f.config["rope_theta"] = 1e300; },
       "key 'rope_theta' must be a number above 1"},
      {"rope_parameters theta 0",
       [](auto& f) {
         f.config.erase("rope_theta");
         f.config["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 0}};
       },
       "key 'rope_theta' must be a number above 1"},
      {"a layer type's rotation on an architecture that has one",
       [](auto& f) {
         f.config["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}}}};
       },
       "key 'full_attention' gives a layer type its own rotation, which llama does not have"},
      {"bos token as a number", [](auto& f) { f.tokenizer_config["bos_token"] = 5; },
       "tokenizer_config.json: key 'bos_token' is neither a token's text nor an object"},
      {"name as a number", [](auto& f) { f.config["_name_or_path"] = 5; },
       "key '_name_or_path' is not a string"},
      {"layers beyond the tensors",
       [](auto& f) { f.config["num_hidden_layers"] = int64_t(1) << 62; },
       "key 'num_hidden_layers' is 4611686018427387904 but the weights hold only 11 tensors"},
      {"layers too large for int64",
       [](auto& f) { f.config["num_hidden_layers"] = uint64_t(1) << 63; },
       "key 'num_hidden_layers' is too large"},
      {"vocab size beyond the embedding", [](auto& f) { f.config["vocab_size"] = 1 << 30; },
       "config.json implies 1073741824 x 8"},
      {"hidden size as text", [](auto& f) { f.config["hidden_size"] = "8"; },
       "key 'hidden_size' is not an integer"},
      {"config not an object",
       [](auto& f) {
         f.config = json::array({1, 2});
       },
       "config.json is not a JSON object"},
      {"empty vocabulary", [](auto& f) { f.tokenizer["model"]["vocab"] = json::object(); },
       "tokenizer.json: model: key 'vocab' is empty"},
      {"no merges", [](auto& f) { f.tokenizer["model"].erase("merges"); },
       "key 'merges' is missing or empty"},
      {"empty merges", [](auto& f) { f.tokenizer["model"]["merges"] = json::array(); },
       "key 'merges' is missing or empty"},
      {"added token id 2^31",
       [](auto& f) { f.tokenizer["added_tokens"][0]["id"] = int64_t(1) << 31; },
       "added_tokens[0]: key 'id' is 2147483648, outside the vocabulary of 16"},
      {"added token content as a number",
       [](auto& f) { f.tokenizer["added_tokens"][1]["content"] = 7; },
       "added_tokens[1]: key 'content' is not a string"},
      {"vocab id beyond the vocabulary", [](auto& f) { f.tokenizer["model"]["vocab"]["a"] = 99; },
       "model.vocab: key 'a' is 99, outside the vocabulary of 16"},
      {"model type as a number", [](auto& f) { f.tokenizer["model"]["type"] = 1; },
       "key 'type' is not a string"},
      {"add_bos_token as text", [](auto& f) { f.tokenizer_config["add_bos_token"] = "yes"; },
       "tokenizer_config.json: key 'add_bos_token' is not true or false"},
      {"chat template as a number", [](auto& f) { f.tokenizer_config["chat_template"] = 5; },
       "key 'chat_template' is neither a template nor a list"},
      {"named template without a name",
       [](auto& f) {
         f.tokenizer_config["chat_template"] = json::array({{{"name", 1}}});
       },
       "chat_template[0]: key 'name' is not a string"},
      {"eos id as text", [](auto& f) { f.generation_config["eos_token_id"] = "11"; },
       "generation_config.json: key 'eos_token_id' is not an integer"},
      {"eos id out of range",
       [](auto& f) {
         f.generation_config["eos_token_id"] = {11, 1 << 30};
       },
       "key 'eos_token_id' is 1073741824, outside the vocabulary"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    test::HfFolder folder;
    c.damage(folder);
    CHECK_THAT(load_error(folder), Catch::Contains(c.expect));
  }
}

namespace {

// The synthetic folder as a Gemma 2 or 3 model (head dim 4, a window of 4) with one key set.
std::string gemma_error(const char* hf_class, const char* key, const json& value) {
  test::HfFolder folder;
  folder.config["architectures"] = {hf_class};
  folder.config["head_dim"] = 4;
  folder.config["sliding_window"] = 4;
  folder.config[key] = value;
  return load_error(folder);
}

}  // namespace

TEST_CASE("Gemma 2's soft-caps must be positive numbers", "[bad_input]") {
  for (const auto& [key, value, expect] :
       {std::tuple{"attn_logit_softcapping", json(-1.0), "must be a positive number"},
        std::tuple{"final_logit_softcapping", json(0), "must be a positive number"},
        std::tuple{"final_logit_softcapping", json("30"), "is not a number"}}) {
    INFO(key << " = " << value.dump());
    CHECK_THAT(gemma_error("Gemma2ForCausalLM", key, value),
               Catch::Contains(std::string("config.json: key '") + key + "' " + expect));
  }
}

TEST_CASE("Gemma 3's window and local base out of range are refused, not run without",
          "[bad_input]") {
  for (const auto& [key, value, expect] :
       {std::tuple{"sliding_window", json(0), "key 'sliding_window' must be a positive width"},
        std::tuple{"sliding_window", json(-4), "key 'sliding_window' must be a positive width"},
        std::tuple{"rope_local_base_freq", json(0.0),
                   "key 'rope_local_base_freq' must be a number above 1"}}) {
    INFO(key << " = " << value.dump());
    CHECK_THAT(gemma_error("Gemma3ForCausalLM", key, value), Catch::Contains(expect));
  }
  // Gemma 3's activation key is hidden_activation; its exact-erf "gelu" is not the tanh form.
  CHECK_THAT(gemma_error("Gemma3ForCausalLM", "hidden_activation", "gelu"),
             Catch::Contains("key 'hidden_activation' is 'gelu'; longctx runs gemma3 with "
                             "gelu_pytorch_tanh (or gelu_new) only"));
}

TEST_CASE("Gemma 3's sliding_window_pattern of 0 is refused, not divided by", "[bad_input]") {
  CHECK_THAT(gemma_error("Gemma3ForCausalLM", "sliding_window_pattern", 0),
             Catch::Contains("key 'sliding_window_pattern' must be at least 1"));
}

TEST_CASE("SmolLM3's NoPE layer list and interval out of range are refused", "[bad_input]") {
  auto smollm3_error = [](const char* key, const json& value) {
    test::HfFolder folder;  // one layer
    folder.config["architectures"] = {"SmolLM3ForCausalLM"};
    folder.config[key] = value;
    return load_error(folder);
  };
  CHECK(smollm3_error("no_rope_layers", json::array({0})).empty());
  CHECK(smollm3_error("no_rope_layers", json::array({1, 0, 1})).empty());  // longer: allowed
  const std::string per_layer = "key 'no_rope_layers' must hold a 0 or 1 for each of";
  CHECK_THAT(smollm3_error("no_rope_layers", json::array()), Catch::Contains(per_layer));
  CHECK_THAT(smollm3_error("no_rope_layers", "all"), Catch::Contains(per_layer));
  CHECK_THAT(
      smollm3_error("no_rope_layers", json::array({2})),
      Catch::Contains("key 'no_rope_layers' entries must be 1 (rope) or 0 (no rope), got 2"));
  CHECK_THAT(smollm3_error("no_rope_layers", json::array({true})),
             Catch::Contains("entries must be 1 (rope) or 0 (no rope), got true"));
  CHECK_THAT(smollm3_error("no_rope_layer_interval", 0),
             Catch::Contains("key 'no_rope_layer_interval' must be at least 1"));
  CHECK_THAT(smollm3_error("no_rope_layer_interval", "4"),
             Catch::Contains("key 'no_rope_layer_interval'"));
}

// Routed experts (transformers' Qwen3MoeConfig, MixtralConfig): counts out of range, and layers
// with a dense FFN among routed ones, are refused by key; a folder whose config routes but whose
// weights are dense names the router it misses.
TEST_CASE("expert counts out of range and mixed dense layers are refused by key", "[bad_input]") {
  auto moe_error = [](const char* arch, const json& keys) {
    test::HfFolder folder;  // one layer, llama's dense tensors
    folder.config["architectures"] = {arch};
    for (const auto& [key, value] : keys.items()) folder.config[key] = value;
    return load_error(folder);
  };
  const json qwen = {{"num_experts", 8}, {"num_experts_per_tok", 2}};
  auto with = [](json base, const char* key, const json& value) {
    base[key] = value;
    return base;
  };
  const char* q = "Qwen3MoeForCausalLM";
  const test::HfFolder mixtral({}, 4);  // a whole one loads, with its experts
  CHECK(load_error(mixtral).empty());
  CHECK_THAT(moe_error(q, with(qwen, "num_experts", 0)),
             Catch::Contains("key 'num_experts' must be 1 to 1024"));
  CHECK_THAT(moe_error(q, with(qwen, "num_experts", 1 << 20)),
             Catch::Contains("key 'num_experts' must be 1 to 1024"));
  CHECK_THAT(moe_error(q, with(qwen, "num_experts_per_tok", 9)),
             Catch::Contains("key 'num_experts_per_tok' must be 1 to 8"));
  CHECK_THAT(moe_error(q, with(qwen, "moe_intermediate_size", -1)),
             Catch::Contains("key 'moe_intermediate_size' must be positive"));
  CHECK_THAT(moe_error(q, with(qwen, "decoder_sparse_step", 2)),
             Catch::Contains("key 'decoder_sparse_step' must be 1 (every layer routed)"));
  CHECK_THAT(moe_error(q, with(qwen, "mlp_only_layers", json::array({0}))),
             Catch::Contains("key 'mlp_only_layers' must be empty"));
  CHECK_THAT(moe_error(q, with(qwen, "norm_topk_prob", "yes")),
             Catch::Contains("key 'norm_topk_prob' is not true or false"));
  CHECK_THAT(moe_error(q, json{{"num_experts", 8}}), Catch::Contains("num_experts_per_tok"));
  CHECK_THAT(moe_error(q, qwen), Catch::Contains("' is missing"));  // its q_norm, first
  CHECK_THAT(moe_error("MixtralForCausalLM", json{{"num_local_experts", "8"}}),
             Catch::Contains("key 'num_local_experts' is not an integer"));
  CHECK_THAT(
      moe_error("MixtralForCausalLM", json{{"num_local_experts", 4}, {"num_experts_per_tok", 2}}),
      Catch::Contains("'model.layers.0.block_sparse_moe.gate.weight' is missing"));
}

TEST_CASE("a weight_map shard outside the folder is refused", "[bad_input]") {
  for (const char* shard : {"/etc/passwd", "../model.safetensors", "sub/model.safetensors", ".."}) {
    INFO(shard);
    test::HfFolder folder;
    std::string dir = folder.write(scratch("index"));
    json index = {{"weight_map", {{"model.embed_tokens.weight", shard}}}};
    std::ofstream(fs::path(dir) / "model.safetensors.index.json") << index.dump();
    CHECK_THROWS_WITH(load_model(dir), Catch::Contains("is not a file name inside the folder"));
  }
}

TEST_CASE("--attn-config files with wrong types name the key", "[bad_input]") {
  const fs::path file = scratch("attn.json");
  auto error_of = [&](const std::string& text) -> std::string {
    std::ofstream(file) << text;
    try {
      policies_from_config_file(file.string(), 4);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  CHECK_THAT(error_of(R"({"default": 3})"), Catch::Contains("\"default\" must be a policy"));
  CHECK_THAT(error_of(R"({"default": null})"), Catch::Contains("\"default\" must be a policy"));
  CHECK_THAT(error_of(R"({"layers": {"1": 7}})"), Catch::Contains("is not a string"));
  CHECK_THAT(error_of(R"({"layers": [1]})"), Catch::Contains("must map layer numbers"));
  CHECK_THAT(error_of(R"([1, 2])"), Catch::Contains("expected an object"));
  CHECK_THAT(error_of(R"({"default": "dense",)"), Catch::Contains("not valid JSON at byte offset"));
  CHECK(error_of(R"({"default": "dense", "layers": {"2": "quest:budget=64"}})").empty());
}

TEST_CASE("only regular files are read, and only up to a bound", "[bad_input]") {
  const fs::path dir = scratch("kinds");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Reading a FIFO with no writer would block forever; it is refused at once.
  CHECK_THROWS_WITH(read_text_file(fifo.string()), Catch::Contains("is a FIFO"));
  CHECK_THROWS_WITH(read_text_file(dir.string()), Catch::Contains("is a directory"));
  CHECK_THROWS_WITH(read_text_file("/dev/zero"), Catch::Contains("is a device"));
  CHECK_THROWS_WITH(read_text_file((dir / "none").string()), Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(load_model(fifo.string()), Catch::Contains("is a FIFO"));
  std::ofstream(dir / "big.txt") << std::string(4096, 'x');
  CHECK(read_text_file((dir / "big.txt").string()).size() == 4096);
  CHECK_THROWS_WITH(read_text_file((dir / "big.txt").string(), 1000),
                    Catch::Contains("larger than"));
}

TEST_CASE("invalid UTF-8 becomes U+FFFD per maximal ill-formed piece, as Python decodes it",
          "[bad_input]") {
  // Expected values: bytes.decode("utf-8", "replace") in CPython 3.11.
  const std::string r = "\xef\xbf\xbd";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ok", "ok"},
      {"\xf0\x9f\x98", r},                                   // an emoji cut short
      {"\xf0\x9f\x98\x80\xf0\x9f", "\xf0\x9f\x98\x80" + r},  // one whole, one cut
      {"a\x80"
       "b",
       "a" + r + "b"},                      // a stray continuation byte
      {"\xe0\x80\x80", r + r + r},          // overlong: each byte
      {"\xed\xa0\x80", r + r + r},          // a surrogate
      {"\xf4\x90\x80\x80", r + r + r + r},  // beyond U+10FFFF
      {"\xc0\xaf", r + r},
      {"\xe2\x82", r},
      {"\xe2\x82\xac", "\xe2\x82\xac"},
      {"\xff\xfe", r + r},
      {"\xf0\x9f\x98"
       "a",
       r + "a"},
  };
  for (const auto& [in, want] : cases) {
    INFO(in);
    CHECK(tokenizer::utf8::to_valid(in) == want);
  }
}
