// Stackful fibers for the CPU execution of CUDA kernels: a stack per kernel thread and a switch
// that saves only what the calling convention asks to keep (x86-64 System V), so that a block of
// 1,024 threads meeting at a barrier costs microseconds, not system calls. Switches are announced
// to AddressSanitizer and ThreadSanitizer when they are built in: each fiber is its own thread to
// ThreadSanitizer, and a switch orders nothing (exec.cpp adds the orderings CUDA guarantees).
#pragma once

#include <cstddef>

namespace cuda_cpu {

class Fiber {
 public:
  Fiber(size_t stack_bytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Makes the fiber start at entry(arg) on its next switch_to (its stack is reused from the top).
  void prepare(void (*entry)(void*), void* arg);
  // The worker's own context, as a switch target.
  static Fiber* for_this_thread();

  // Saves the running context into `from` and runs `to`. `from_exits`: the running fiber never
  // resumes (its sanitizer state is released).
  static void switch_to(Fiber* from, Fiber* to, bool from_exits = false);
  // First thing a new fiber does: completes the switch that started it.
  static void started();

 private:
  Fiber() = default;  // the thread's own stack
  void* sp_ = nullptr;
  char* stack_ = nullptr;
  size_t stack_bytes_ = 0, mapped_bytes_ = 0;
  void* tsan_ = nullptr;
  void* asan_fake_stack_ = nullptr;
  const void* asan_bottom_ = nullptr;
  size_t asan_size_ = 0;
};

}  // namespace cuda_cpu
