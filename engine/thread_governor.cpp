#include "engine/thread_governor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

namespace longctx {
namespace {

// Probing: a few steps at the neighbouring count, first after kFirstInterval steps, then at
// intervals that double while the choice holds (up to kLongestInterval): on a quiet machine a probe
// of one thread costs three steps at about half speed every few hundred steps.
constexpr int64_t kFirstInterval = 8;
constexpr int64_t kLongestInterval = 512;
constexpr int kProbeSteps = 3;
// A probe wins when its median is below this share of the current median (hysteresis against
// noise), and ends at once when one of its steps is slower than kProbeGiveUp times that median.
constexpr double kProbeWins = 0.85;
constexpr double kProbeGiveUp = 2.0;
// Two steps in a row this much slower than the current median: another process has arrived; probe
// now instead of waiting out the interval.
constexpr double kSuddenlySlow = 3.0;

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
    if (seconds > kProbeGiveUp * current_.median() || probe_.n >= kProbeSteps) end_probe();
    return;
  }
  const bool settled = current_.n >= 4;
  if (settled && seconds > kSuddenlySlow * current_.median()) {
    if (++slow_in_a_row_ >= 2) steps_since_probe_ = interval_ = kFirstInterval;
  } else {
    slow_in_a_row_ = 0;
  }
  current_.add(seconds);
  if (++steps_since_probe_ >= interval_ && current_.n >= 2) start_probe();
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
  if (probe_.n >= kProbeSteps && tried < kProbeWins * now) {
    const int from = threads_;
    threads_ = probe_threads_;
    current_ = probe_;
    interval_ = kFirstInterval;
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
