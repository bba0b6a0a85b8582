// Wall-clock milliseconds on a steady clock: what every timing the commands print is measured in.
#pragma once

#include <chrono>

namespace longctx {

inline double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace longctx
