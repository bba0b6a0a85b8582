// Decode steps on shared cores (engine/thread_governor.h): the governor's choices against step
// times of known machines (quiet, shared from the start, shared half way, freed again), and a
// session's logits when its decode steps run on fewer threads than the team it partitions for.
#include <omp.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <vector>

#include "engine/session.h"
#include "engine/thread_governor.h"
#include "kernels/cpu/threads.h"
#include "models/model.h"
#include "tests/fixtures.h"

using namespace longctx;

namespace {

// Runs `steps` decode steps whose time is machine(step, threads); returns the thread count of
// every step.
std::vector<int> drive(ThreadGovernor& g, int steps,
                       const std::function<double(int, int)>& machine) {
  std::vector<int> used;
  for (int i = 0; i < steps; ++i) {
    const int n = g.next();
    used.push_back(n);
    g.record(machine(i, n));
  }
  return used;
}

int count(const std::vector<int>& v, int from, int to, int value) {
  int c = 0;
  for (int i = from; i < to; ++i) c += v[size_t(i)] == value;
  return c;
}

// Two cores alone: 8 ms a step on two threads, 14 ms on one, a little noise.
double quiet(int step, int threads) {
  return (threads == 2 ? 0.008 : 0.014) * (1.0 + 0.05 * ((step * 7919) % 11) / 10.0);
}
// Beside a busy process: every barrier may wait out a time slice on two threads.
double shared(int step, int threads) {
  return (threads == 2 ? 0.300 : 0.020) * (1.0 + 0.05 * ((step * 7919) % 11) / 10.0);
}

}  // namespace

TEST_CASE("the thread governor keeps the whole team on a quiet machine", "[governor]") {
  ThreadGovernor g(2);
  auto used = drive(g, 2000, quiet);
  CHECK(g.threads() == 2);
  CHECK(g.switches() == 0);
  // Probes of one thread: one step each (it is not faster), ever rarer.
  CHECK(count(used, 0, 2000, 1) <= 10);
  CHECK(count(used, 1000, 2000, 1) <= 1);
}

TEST_CASE("the thread governor drops to one thread when another process shares the cores",
          "[governor]") {
  ThreadGovernor g(2);
  auto used = drive(g, 400, shared);
  CHECK(g.threads() == 1);
  CHECK(count(used, 0, 16, 2) <= 12);  // found within the first probe
  // Then it stays, trying two threads again for one step at a time, ever rarer.
  CHECK(count(used, 16, 400, 2) <= 5);
}

TEST_CASE("the thread governor follows contention that comes and goes", "[governor]") {
  ThreadGovernor g(2);
  // Quiet for 300 steps, shared for 300, quiet again for 1200.
  auto machine = [](int step, int threads) {
    return step >= 300 && step < 600 ? shared(step, threads) : quiet(step, threads);
  };
  auto used = drive(g, 1800, machine);
  CHECK(count(used, 0, 300, 2) >= 280);      // five probes of three steps
  CHECK(count(used, 320, 600, 1) >= 270);    // it noticed within 20 steps
  CHECK(count(used, 1200, 1800, 2) >= 590);  // and went back once the cores were free
  CHECK(g.threads() == 2);
}

TEST_CASE("the thread governor never leaves one thread alone", "[governor]") {
  ThreadGovernor g(1);
  auto used = drive(g, 100, shared);
  CHECK(count(used, 0, 100, 1) == 100);
  CHECK(g.switches() == 0);
}

TEST_CASE("decode steps give the same logits on one thread as on the whole team",
          "[model][governor]") {
  // The governor may run a step on fewer threads than the team; the kernels partition the work for
  // the team (kernels/cpu/threads.h), so the floats must not change. Gemma 3 has one KV head: its
  // decode attention splits the keys by the team's width and merges the splits.
  const std::string path = test::model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) FAIL("model " << path << " is missing: run scripts/setup");
  auto model = load_model(path);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 600; ++i) prompt.push_back(int32_t(1000 + (i * 37) % 5000));
  auto run = [&](int step_threads) {
    const int team = omp_get_max_threads();
    Session s(*model, SessionOptions{700, 256});
    s.eval(prompt);
    std::vector<float> out;
    for (int i = 0; i < 4; ++i) {
      int32_t one[1] = {int32_t(2000 + i)};
      const cpu::PartitionWidth width(2);
      omp_set_num_threads(step_threads);
      auto logits = s.eval(one);
      omp_set_num_threads(team);
      out.insert(out.end(), logits.begin(), logits.end());
    }
    return out;
  };
  const auto whole = run(2), alone = run(1);
  REQUIRE(whole.size() == alone.size());
  size_t differ = 0;
  for (size_t i = 0; i < whole.size(); ++i) differ += whole[i] != alone[i];
  CHECK(differ == 0);
}
