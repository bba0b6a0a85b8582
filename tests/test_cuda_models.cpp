// Whole models on the CUDA backend against the CPU session: both real GGUF models and tiny
// Hugging Face models (two dense, two with routed experts), dense and every attention policy. Part
// of test_cuda (tests/cuda_check.h).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/attention/registry.h"
#include "engine/backend.h"
#include "engine/session.h"
#include "models/model.h"
#include "tests/cuda_check.h"
#include "tests/fixtures.h"

namespace longctx::test {
namespace {

// Whole models: a 300-token prompt (LONGCTX_CUDA_TEST_PROMPT) and three decode steps, CUDA against
// the CPU session, under one attention policy for every layer (budgets small enough that each one
// acts on 300 tokens).
void test_model(const char* file, kernels::KvType kv, const std::string& policy, const char* gemm,
                double tolerance) {
  std::string path = model_path(file);
  if (!std::filesystem::exists(path)) {
    // A device machine that cannot download the models may be lent only what fits its transfer
    // limit (the tiny ones): LONGCTX_ALLOW_MISSING_MODELS=1 says so instead of failing.
    const char* allow = std::getenv("LONGCTX_ALLOW_MISSING_MODELS");
    const bool ok = allow && std::string(allow) == "1";
    std::printf("%-8s %s missing (run scripts/setup)\n", ok ? "MISSING" : "FAIL", path.c_str());
    cuda_failures += !ok;
    return;
  }
  auto model = load_model(path);
  std::vector<int32_t> prompt;
  std::mt19937 rng(7);
  // LONGCTX_CUDA_TEST_PROMPT: the prompt's length (300 by default; the CPU execution of the CUDA
  // code runs 150, which every policy's budget below still acts on).
  const char* prompt_env = std::getenv("LONGCTX_CUDA_TEST_PROMPT");
  const int n_prompt = prompt_env ? std::max(120, std::atoi(prompt_env)) : 300;
  for (int i = 0; i < n_prompt; ++i)
    prompt.push_back(int32_t(rng() % uint32_t(model->config.n_vocab)));
  // Batches of 128: the prompt goes through cuBLAS, the steps through the matrix-vector kernels.
  std::vector<PolicySpec> specs(size_t(model->config.n_layer), parse_policy_spec(policy));
  setenv("LONGCTX_CUDA_GEMM", gemm, 1);  // read when the CUDA session starts
  SessionOptions cpu_o{1024, 128, specs, kv, "cpu"};
  SessionOptions gpu_o{1024, 128, specs, kv, "cuda"};
  Session cpu_s(*model, cpu_o), gpu_s(*model, gpu_o);
  const std::string name = std::string(file).substr(0, 16) + " " + kv_type_name(kv) + " " + gemm +
                           " " + policy.substr(0, 8);
  auto argmax = [](const std::vector<float>& v) {
    return int32_t(std::max_element(v.begin(), v.end()) - v.begin());
  };
  auto eval = [](Session& s, const std::vector<int32_t>& t, bool all = false) {
    auto out = s.eval(t, all);
    return std::vector<float>(out.begin(), out.end());
  };
  std::vector<float> cl = eval(cpu_s, prompt), gl = eval(gpu_s, prompt);
  report(name + " prompt logits", rel_diff(gl, cl), tolerance);
  // The same top token, unless the CPU's own top two are closer than the tolerance (a near-tie
  // either side may take): the CPU's gap between its best and the CUDA pick, relative.
  const double gap =
      double(cl[size_t(argmax(cl))] - cl[size_t(argmax(gl))]) /
      std::max(1e-6, std::fabs(double(*std::max_element(cl.begin(), cl.end(), [](float a, float b) {
                 return std::fabs(a) < std::fabs(b);
               }))));
  report(name + " prompt top token (CPU's gap to the CUDA pick)", std::fabs(gap), tolerance);
  for (int step = 0; step < 3; ++step) {
    std::vector<int32_t> next = {argmax(cl)};
    cl = eval(cpu_s, next);
    gl = eval(gpu_s, next);
    report(name + " step " + std::to_string(step) + " logits", rel_diff(gl, cl), tolerance);
  }
  report(name + " KV slots held", double(std::abs(gpu_s.held_kv_bytes() - cpu_s.held_kv_bytes())),
         0.0);
  const int64_t keep = n_prompt * 2 / 3;
  if (!cpu_s.can_truncate(keep)) return;  // evicted: no rewinding
  // Every position's logits (perplexity's path) after a rewind.
  cpu_s.truncate(keep);
  gpu_s.truncate(keep);
  std::vector<int32_t> tail(prompt.begin() + keep, prompt.begin() + keep + 32);
  report(name + " all logits after truncate",
         rel_diff(eval(gpu_s, tail, true), eval(cpu_s, tail, true)), tolerance);
}

// Two sessions on one device share one upload of the weights: the DeviceModel counts what it
// copied, once, and opening sessions over it copies nothing more; a session given no DeviceModel
// uploads its own.
void test_shared_weights(const char* file) {
  const std::string path = model_path(file);
  if (!std::filesystem::exists(path)) return;  // test_model reports it
  auto model = load_model(path);
  auto weights = find_backend("cuda").load(*model);
  const int64_t once = weights->uploaded_bytes();
  SessionOptions o{512, 64, {}, kernels::KvType::F16, "cuda", weights};
  Session a(*model, o), b(*model, o);
  const bool shared = &a.device_model() == weights.get() && &b.device_model() == weights.get();
  report(std::string(file) + ": two sessions on one weight copy", shared ? 0.0 : 1.0, 0.0);
  report(std::string(file) + ": bytes uploaded after two sessions vs once",
         double(weights->uploaded_bytes() - once), 0.0);
  // Every weight the CPU session reads, counted once (a tied output is the embedding).
  report(std::string(file) + ": uploaded bytes are the weights' (relative)",
         std::fabs(double(once) - double(model->weight_bytes)) / double(model->weight_bytes), 0.05);
  SessionOptions own{512, 64, {}, kernels::KvType::F16, "cuda"};
  Session c(*model, own);
  report(std::string(file) + ": a session without shared weights has its own",
         &c.device_model() != weights.get() ? 0.0 : 1.0, 0.0);
}

}  // namespace

void test_models() {
  const char* which = std::getenv("LONGCTX_CUDA_TEST_MODELS");
  if (!which || std::string(kSmolLM2).find(which) != std::string::npos)
    test_shared_weights(kSmolLM2);
  // Every policy on every model (f16 KV; dense in q8_0 too). Scored evictions (H2O, SnapKV)
  // choose by attention mass, where CUDA and CPU round differently: near-ties may keep other
  // tokens, so they get a looser bound.
  // Prefill products in float (SGEMM) for the policies; dense also with the default bfloat16
  // tensor-core path, whose rounding gets a looser bound. Quest ranks its pages on the device,
  // summing bounds in another order than the CPU: a near-tie may read another page.
  struct Run {
    std::string policy;
    const char* gemm;
    double tolerance;
  };
  const Run runs[] = {{"dense", "f32", 2e-2},
                      {"dense", "bf16", 5e-2},
                      {"streaming:sinks=4,window=60", "f32", 2e-2},
                      {"quest:budget=96,page=16", "f32", 5e-2},
                      {"dhsa:budget=96,local=16", "f32", 2e-2},
                      {"recycled:k=64,stride=2", "f32", 2e-2},
                      {"h2o:budget=96", "f32", 5e-2},
                      {"snapkv:budget=96,window=16", "f32", 5e-2}};
  // LONGCTX_CUDA_TEST_MODELS=NAME: only the models whose file name contains NAME ("tiny": the
  // tiny folders; the sanitized CPU execution runs "tiny-llama").
  const std::string only = which ? which : "";
  // The tiny routed-expert models: Qwen3-MoE's folder and Mixtral's GGUF (3-D expert tensors).
  for (const char* m : {kSmolLM2, kGemma3, "tiny/tiny-llama", "tiny/tiny-gemma3",
                        "tiny/tiny-qwen3moe", "tiny/tiny-mixtral.gguf"}) {
    const bool tiny = std::string(m).rfind("tiny/", 0) == 0;
    if (!only.empty() && std::string(m).find(only) == std::string::npos) continue;
    for (const Run& r : runs) {
      for (auto kv : {kernels::KvType::F16, kernels::KvType::Q8_0}) {
        const bool plain = r.policy == "dense" && std::string(r.gemm) == "f32";
        if ((tiny || !plain) && kv != kernels::KvType::F16) continue;
        // A q8_0 cache rounds each key to 1/127 of its block's largest element: a last-bit
        // difference in a key before it is stored (the products sum in another order on the
        // device) can move a stored value by a whole step. Measured on the CPU execution of the
        // CUDA code, 150-token prompts: SmolLM2 0.006, Gemma 3 0.022 (f16: 0.0001, 0.0007); the
        // largest over the 32 positions after a truncate: SmolLM2 0.012, Gemma 3 0.053 (with the
        // CPU's grouped-row kernels; a wrong kernel is off by the logits' own size).
        const double tolerance =
            kv == kernels::KvType::Q8_0 ? std::max(r.tolerance, 8e-2) : r.tolerance;
        try {
          test_model(m, kv, r.policy, r.gemm, tolerance);
        } catch (const std::exception& e) {
          std::printf("FAIL     %s %s: %s\n", m, r.policy.c_str(), e.what());
          ++cuda_failures;
        }
      }
    }
  }
}

}  // namespace longctx::test
