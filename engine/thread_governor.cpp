#include "engine/thread_governor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

namespace longctx {
namespace {

// Probing: a few steps at the neighbouring count, first after kFirstInterval steps, then at
// intervals that double while the choice holds (up to kLongestInterval). After a change the next
// probe waits kAfterSwitch steps: the probe that led to it was itself evidence.
constexpr int64_t kFirstInterval = 4;
constexpr int64_t kAfterSwitch = 32;
constexpr int64_t kLongestInterval = 1024;
constexpr int kProbeSteps = 2;
// A probe wins when its steps' mean is below this share of the current mean; it ends at a first
// step slower than the current mean, so on a quiet machine a probe of one thread costs one step at
// about half speed, ever more rarely. The margin is wide: beside low-priority processes (nice 10)
// two threads lose a step now and then yet stay faster (measured: a margin of 0.85 moved such a
// decode to one thread, 70 instead of 84 t/s); a competitor at the same priority makes one thread
// 1.7-3x faster than two.
constexpr double kProbeWins = 0.7;
// Two steps in a row this much slower than the mean so far: another process has arrived; probe
// now instead of waiting out the interval.
constexpr double kSuddenlySlow = 3.0;
constexpr int kSlowInARow = 2;

std::atomic<bool> g_warned{false};  // the first change is a warning, later ones are info

}  // namespace

double ThreadGovernor::Recent::mean() const {
  double sum = 0;
  for (int i = 0; i < size(); ++i) sum += t[size_t(i)];
  return size() > 0 ? sum / size() : 0.0;
}

ThreadGovernor::ThreadGovernor(int max_threads)
    : max_(std::max(1, max_threads)), threads_(max_), interval_(kFirstInterval) {}

void ThreadGovernor::record(double seconds) {
  if (max_ == 1) return;
  if (probing_) {
    probe_.add(seconds);
    if (seconds >= current_.mean() || probe_.n >= kProbeSteps) end_probe();
    return;
  }
  // Steps far slower than the mean so far, two in a row: another process has arrived.
  if (current_.n >= 4 && seconds > kSuddenlySlow * current_.mean()) {
    if (++slow_in_a_row_ >= kSlowInARow) steps_since_probe_ = interval_ = kFirstInterval;
  } else {
    slow_in_a_row_ = 0;
  }
  current_.add(seconds);
  ++steps_since_probe_;
  if (steps_since_probe_ >= interval_ && current_.n >= 2) start_probe();
}

void ThreadGovernor::start_probe() {
  const int down = std::max(1, threads_ / 2), up = std::min(max_, threads_ * 2);
  if (down == threads_ && up == threads_) return;
  if (down == threads_) probe_down_next_ = false;
  if (up == threads_) probe_down_next_ = true;
  probe_threads_ = probe_down_next_ ? down : up;
  probe_down_next_ = !probe_down_next_;
  probe_.clear();
  probing_ = true;
}

void ThreadGovernor::end_probe() {
  probing_ = false;
  steps_since_probe_ = 0;
  slow_in_a_row_ = 0;
  const double now = current_.mean(), tried = probe_.mean();
  bool won = probe_.n >= kProbeSteps;
  for (int i = 0; i < probe_.size(); ++i) won = won && probe_.t[size_t(i)] < kProbeWins * now;
  spdlog::debug(
      "thread governor: {} thread(s) {:.2f} ms (mean), probe of {}: {} step(s), {:.2f} ms{}",
      threads_, now * 1e3, probe_threads_, probe_.n, tried * 1e3, won ? ": switching" : "");
  if (won) {
    const int from = threads_;
    threads_ = probe_threads_;
    current_ = probe_;
    interval_ = kAfterSwitch;
    ++switches_;
    const bool first = !g_warned.exchange(true);
    const auto level = first && threads_ < from ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(level,
                "decode steps ran {:.1f}x faster on {} thread{} than on {}: {}; using {} (checked "
                "again as decoding goes on)",
                now / tried, threads_, threads_ == 1 ? "" : "s", from,
                threads_ < from ? "other processes share these cores" : "the cores are free again",
                threads_);
    return;
  }
  interval_ = std::min(kLongestInterval, interval_ * 2);
}

}  // namespace longctx
