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
// A probe wins when each of its steps takes less than this share of the current median; it ends at
// the first step that does not, so on a quiet machine a probe of one thread costs one step at
// about half speed, ever more rarely. The margin is wide: beside low-priority processes (nice 10)
// two threads lose a step now and then yet stay faster (measured: a margin of 0.85 moved such a
// decode to one thread, 70 instead of 84 t/s); a competitor at the same priority makes one thread
// 1.7-3x faster than two.
constexpr double kProbeWins = 0.7;
// Three steps in a row this much slower than the current median: another process has arrived;
// probe now instead of waiting out the interval.
constexpr double kSuddenlySlow = 3.0;
constexpr int kSlowInARow = 3;

std::atomic<bool> g_warned{false};  // the first change is a warning, later ones are info

}  // namespace

double ThreadGovernor::Recent::median() const {
  const int k = std::min(n, 4);
  std::array<double, 4> s = t;
  std::sort(s.begin(), s.begin() + k);
  return k % 2 ? s[size_t(k / 2)] : 0.5 * (s[size_t(k / 2 - 1)] + s[size_t(k / 2)]);
}

ThreadGovernor::ThreadGovernor(int max_threads)
    : max_(std::max(1, max_threads)), threads_(max_), interval_(kFirstInterval) {}

void ThreadGovernor::record(double seconds) {
  if (max_ == 1) return;
  if (probing_) {
    probe_.add(seconds);
    if (seconds >= kProbeWins * current_.median() || probe_.n >= kProbeSteps) end_probe();
    return;
  }
  // A step far slower than the current median is held out of it (an outlier) unless more follow;
  // kSlowInARow of them make the new median and an immediate probe.
  const bool settled = current_.n >= 4;
  if (settled && seconds > kSuddenlySlow * current_.median()) {
    slow_[size_t(slow_in_a_row_++)] = seconds;
    if (slow_in_a_row_ < kSlowInARow) return;
    current_.clear();
    for (double t : slow_) current_.add(t);
    slow_in_a_row_ = 0;
    steps_since_probe_ = interval_ = kFirstInterval;
  } else {
    slow_in_a_row_ = 0;
    current_.add(seconds);
    ++steps_since_probe_;
  }
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
  const double now = current_.median(), tried = probe_.median();
  bool won = probe_.n >= kProbeSteps;
  for (int i = 0; i < std::min(probe_.n, 4); ++i)
    won = won && probe_.t[size_t(i)] < kProbeWins * now;
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
