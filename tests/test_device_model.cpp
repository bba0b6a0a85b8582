// Backends found by name, and the weights held once per device: every session made from options
// that share a DeviceModel runs on that one copy, and gives the logits a session with its own
// copy gives. (On CUDA the same is counted in uploaded bytes: tests/test_cuda_models.cpp.)
#include <catch2/catch.hpp>
#include <filesystem>

#include "engine/backend.h"
#include "engine/session.h"
#include "engine/session_setup.h"
#include "support/error.h"
#include "tests/fixtures.h"

using namespace longctx;

TEST_CASE("backends are found by name in one registry", "[backend]") {
  const std::vector<std::string> names = backend_names();
  REQUIRE(!names.empty());
  CHECK(names[0] == "cpu");  // the reference, first
  CHECK(std::find(names.begin(), names.end(), "cuda") != names.end());
  CHECK(find_backend("cpu").host_cache);
  CHECK(!find_backend("cuda").host_cache);
  CHECK(find_backend("cuda").can_rank(RankMethod::BlockBounds));
  CHECK(!find_backend("cpu").can_rank(RankMethod::BlockBounds));
  CHECK(!find_backend("cuda").can_rank(RankMethod::None));
  CHECK_THROWS_WITH(find_backend("tpu"), "--device tpu: expected one of cpu, cuda");
}

TEST_CASE("sessions made from shared options run on one copy of the weights", "[backend][model]") {
  const std::string path = test::model_path(test::kSmolLM2);
  if (!std::filesystem::exists(path)) FAIL(path << " is missing: run scripts/setup");
  auto model = load_model(path);
  ModelOptions o;
  o.n_ctx = 256;
  o.n_batch = 64;
  share_device_model(*model, o);
  REQUIRE(o.device_model);
  CHECK(o.device_model->uploaded_bytes() == 0);  // the CPU reads the mapped file
  auto a = make_session(*model, o), b = make_session(*model, o, "streaming:sinks=4,window=32");
  CHECK(&a->device_model() == o.device_model.get());
  CHECK(&b->device_model() == o.device_model.get());
  // Sharing again is a no-op; options without a DeviceModel give each session its own.
  const DeviceModel* first = o.device_model.get();
  share_device_model(*model, o);
  CHECK(o.device_model.get() == first);
  ModelOptions own = o;
  own.device_model.reset();
  auto c = make_session(*model, own);
  CHECK(&c->device_model() != first);
  // The same logits either way.
  const std::vector<int32_t> prompt = {1, 504, 3458, 282, 4649, 314, 3118, 30, 378, 1790};
  auto la = a->eval(prompt);
  std::vector<float> shared(la.begin(), la.end());
  auto lc = c->eval(prompt);
  CHECK(std::equal(shared.begin(), shared.end(), lc.begin()));
  // A session refuses weights of another model.
  auto other = load_model(path);
  SessionOptions so;
  so.n_ctx = 64;
  so.weights = o.device_model;
  CHECK_THROWS_AS(Session(*other, so), Error);
  // Options whose device changed after sharing load the weights on the new device (here: no CUDA
  // in this build or machine, so the load says so) instead of running on the old one's.
  ModelOptions moved = o;
  moved.device = "cuda";
  if (!find_backend("cuda").usable(nullptr))
    CHECK_THROWS_WITH(share_device_model(*model, moved), Catch::Contains("--device cuda"));
  // A session given weights of another device refuses them.
  SessionOptions wrong;
  wrong.n_ctx = 64;
  wrong.device = "cuda";
  wrong.weights = o.device_model;
  CHECK_THROWS_WITH(Session(*model, wrong),
                    Catch::Contains("weights on cpu for a session on cuda"));
}
