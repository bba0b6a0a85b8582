// Runs of a real or tiny model through a Session that several test files compare: a prompt and
// greedy decode steps, under one attention policy for every layer.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/attention/registry.h"
#include "engine/session.h"
#include "models/model.h"
#include "tests/fixtures.h"

namespace longctx::test {

// Logits of a prompt and of `steps` greedy decode steps in a session.
inline std::vector<float> prompt_and_decode(Session& s, const std::vector<int32_t>& ids,
                                            int steps) {
  std::vector<float> all;
  auto l = s.eval(ids);
  all.insert(all.end(), l.begin(), l.end());
  for (int i = 0; i < steps; ++i) {  // decode steps, where the sparse policies plan
    int32_t one[1] = {int32_t(std::max_element(l.begin(), l.end()) - l.begin())};
    l = s.eval(one);
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

// The same under one policy for all layers, in a fresh session (context 128, batches of 64).
inline std::vector<float> logits_under(const Model& model, const std::vector<int32_t>& ids,
                                       const std::string& attn, int steps,
                                       KvType kv = KvType::F16) {
  Session s(model,
            SessionOptions{128, 64, policies_for_all_layers(attn, model.config.n_layer), kv});
  return prompt_and_decode(s, ids, steps);
}

// A real model from the cache, or a failure that says how to get it.
inline std::unique_ptr<Model> load_or_fail(const std::string& file) {
  std::string path = model_path(file);
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  return load_model(path);
}

}  // namespace longctx::test
