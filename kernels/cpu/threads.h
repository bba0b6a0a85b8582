// The thread count the CPU kernels partition their work for. OpenMP runs each parallel region with
// the calling thread's team size (omp_set_num_threads); a kernel whose arithmetic depends on how
// its work is split (attention's key splits and their merge) sizes the split by this width
// instead, so a caller that runs a step with a smaller team (engine/thread_governor.h) gets the
// same floats as with the whole team.
#pragma once

namespace longctx::cpu {

// The width set on this thread by a live PartitionWidth, else omp_get_max_threads().
int partition_threads();

// Sets this thread's partition width for the lifetime of the object.
class PartitionWidth {
 public:
  explicit PartitionWidth(int threads);
  ~PartitionWidth();
  PartitionWidth(const PartitionWidth&) = delete;
  PartitionWidth& operator=(const PartitionWidth&) = delete;

 private:
  int previous_;
};

}  // namespace longctx::cpu
