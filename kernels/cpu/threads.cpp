#include "kernels/cpu/threads.h"

#include <omp.h>

namespace longctx::cpu {
namespace {

thread_local int t_width = 0;  // 0: not set on this thread

}  // namespace

int partition_threads() {
  return t_width > 0 ? t_width : omp_get_max_threads();
}

PartitionWidth::PartitionWidth(int threads) : previous_(t_width) {
  t_width = threads;
}

PartitionWidth::~PartitionWidth() {
  t_width = previous_;
}

}  // namespace longctx::cpu
