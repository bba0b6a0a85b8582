#include "tests/cuda_cpu/fiber.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUDA_CPU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define CUDA_CPU_TSAN 1
#endif

#if !defined(__x86_64__)
#error "tests/cuda_cpu: the fiber switch is written for x86-64 (System V)"
#endif

// Saves the callee-saved registers, MXCSR and the x87 control word on the current stack, stores
// the stack pointer in *from_sp, loads to_sp and restores the same from there.
extern "C" void cuda_cpu_switch(void** from_sp, void* to_sp);
// A new fiber's first return lands here: r12 holds the argument, r13 the entry.
extern "C" void cuda_cpu_start();
asm(R"(
  .text
  .globl cuda_cpu_switch
  .type cuda_cpu_switch, @function
cuda_cpu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cuda_cpu_switch, .-cuda_cpu_switch

  .globl cuda_cpu_start
  .type cuda_cpu_start, @function
cuda_cpu_start:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size cuda_cpu_start, .-cuda_cpu_start
)");

namespace cuda_cpu {

// A fiber's saved registers are handed over by the switch itself, which orders nothing for
// ThreadSanitizer (exec.cpp): it must not see these accesses either.
#define CUDA_CPU_UNSEEN __attribute__((no_sanitize("thread"), noinline))

Fiber::Fiber(size_t stack_bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  stack_bytes_ = (stack_bytes + page - 1) / page * page;
  mapped_bytes_ = stack_bytes_ + page;
  void* p =
      mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "cuda_cpu: cannot map a fiber stack of %zu bytes\n", mapped_bytes_);
    std::abort();
  }
  mprotect(p, page, PROT_NONE);  // an overflowing kernel thread faults instead of corrupting
  stack_ = static_cast<char*>(p) + page;
#if CUDA_CPU_TSAN
  tsan_ = __tsan_create_fiber(0);
#endif
}

Fiber::~Fiber() {
#if CUDA_CPU_TSAN
  if (tsan_ && stack_) __tsan_destroy_fiber(tsan_);
#endif
  if (stack_) munmap(stack_ - (mapped_bytes_ - stack_bytes_), mapped_bytes_);
}

CUDA_CPU_UNSEEN Fiber* Fiber::for_this_thread() {
  static thread_local Fiber self;
#if CUDA_CPU_TSAN
  if (!self.tsan_) self.tsan_ = __tsan_get_current_fiber();
#endif
#if CUDA_CPU_ASAN
  if (!self.asan_bottom_) {  // the thread's own stack, for switches back to it from any fiber
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &addr, &size);
      pthread_attr_destroy(&attr);
    }
    self.asan_bottom_ = addr;
    self.asan_size_ = size;
  }
#endif
  return &self;
}

CUDA_CPU_UNSEEN void Fiber::prepare(void (*entry)(void*), void* arg) {
#if CUDA_CPU_ASAN
  __asan_unpoison_memory_region(stack_, stack_bytes_);  // frames a finished thread left
#endif
  auto* top = reinterpret_cast<uint64_t*>(stack_ + stack_bytes_);
  // cuda_switch pops, from sp up: MXCSR + x87 control word, r15, r14, r13, r12, rbx, rbp, then
  // returns into cuda_cpu_start with the stack 16-byte aligned for its call.
  uint64_t* sp = top - 10;
  const uint64_t csr = uint64_t(_mm_getcsr()) | (uint64_t(0x037f) << 32);
  sp[0] = csr;
  sp[1] = 0;                                  // r15
  sp[2] = 0;                                  // r14
  sp[3] = reinterpret_cast<uint64_t>(entry);  // r13
  sp[4] = reinterpret_cast<uint64_t>(arg);    // r12
  sp[5] = 0;                                  // rbx
  sp[6] = 0;                                  // rbp: the end of frame-pointer chains
  sp[7] = reinterpret_cast<uint64_t>(&cuda_cpu_start);
  sp[8] = 0;
  sp[9] = 0;
  sp_ = sp;
}

CUDA_CPU_UNSEEN void Fiber::switch_to(Fiber* from, Fiber* to, bool from_exits) {
#if CUDA_CPU_ASAN
  __sanitizer_start_switch_fiber(from_exits ? nullptr : &from->asan_fake_stack_,
                                 to->stack_ ? to->stack_ : to->asan_bottom_,
                                 to->stack_ ? to->stack_bytes_ : to->asan_size_);
#endif
#if CUDA_CPU_TSAN
  __tsan_switch_to_fiber(to->tsan_, __tsan_switch_to_fiber_no_sync);
#endif
  cuda_cpu_switch(&from->sp_, to->sp_);
  // Running `from` again.
#if CUDA_CPU_ASAN
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(from->asan_fake_stack_, &bottom, &size);
  (void)bottom;
  (void)size;
#endif
}

CUDA_CPU_UNSEEN void Fiber::started() {
#if CUDA_CPU_ASAN
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
#endif
}

}  // namespace cuda_cpu
