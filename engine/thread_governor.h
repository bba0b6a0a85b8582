// Decode steps on cores that other busy processes share. A decode step is a few hundred OpenMP
// parallel regions, each ending in a barrier; when the scheduler gives one of the team's cores to
// another process, every barrier waits for the descheduled thread, and a step that takes 8 ms
// alone can take 300 ms. Fewer threads than cores then run faster than all of them (one thread has
// no barrier at all). The governor times each step and, now and then, tries the neighbouring
// thread count (half, or twice, within the user's -t) for a step or two; it keeps whichever is
// faster. A step's result does not depend on the thread count (the kernels partition their work
// for the caller's width, kernels/cpu/threads.h, not for the team that runs it), so switching
// changes speed only, never tokens.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace longctx {

class ThreadGovernor {
 public:
  // `max_threads`: the most a step may use (the team size the user asked for).
  explicit ThreadGovernor(int max_threads);

  // The thread count for the next step.
  int next() const { return probing_ ? probe_threads_ : threads_; }
  // The wall time of the step that just ran with next()'s count.
  void record(double seconds);

  int threads() const { return threads_; }
  int max_threads() const { return max_; }
  // Times the governor changed its thread count (for tests and the log).
  int64_t switches() const { return switches_; }

 private:
  // The last few step times of one setting. Their mean, not their median: beside a busy process
  // two threads' steps are mostly quick with a long tail (median 17 ms, mean 32 ms measured on
  // SmolLM2), and the tail is what the throughput pays.
  static constexpr int kWindow = 8;
  struct Recent {
    std::array<double, kWindow> t{};
    int n = 0;
    void add(double s) { t[size_t(n++ % kWindow)] = s; }
    void clear() { n = 0; }
    int size() const { return n < kWindow ? n : kWindow; }
    double mean() const;
  };
  void start_probe();
  void end_probe();

  int max_;
  int threads_;
  Recent current_;  // steps at threads_ since it was chosen or last probed
  bool probing_ = false;
  int probe_threads_ = 0;
  Recent probe_;
  int64_t steps_since_probe_ = 0;
  int64_t interval_;       // steps between probes: shorter after a change, longer while settled
  int slow_in_a_row_ = 0;  // steps far slower than the current mean (contention arriving)
  bool probe_down_next_ = true;
  int64_t switches_ = 0;
};

}  // namespace longctx
