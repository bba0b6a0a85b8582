// The machine's limit for the products the CPU kernels compute: multiply-accumulates per second of
// the vector instructions they use, measured with independent chains of each instruction on every
// thread of the team (so the figure includes the cores' real clock under load). What `longctx
// bench --peak` prints, and what measurements state prompt processing as a fraction of.
#pragma once

#include <string>
#include <vector>

namespace longctx::cpu {

struct PeakRate {
  std::string instruction;  // "vpdpwssd zmm (int16 x int16)"
  double macs_per_s;        // all threads together
};

// The instructions this processor has, each timed for about `seconds` on `threads` threads.
std::vector<PeakRate> measure_peak(int threads, double seconds = 0.3);

}  // namespace longctx::cpu
