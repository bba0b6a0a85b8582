// The CUDA execution model on the CPU (exec.h): how a grid's blocks and a block's threads run.
//
// Scheduling is chosen to make synchronisation bugs show rather than hide. A block's threads are
// fibers; the running warp keeps the worker until every lane of it waits (at a barrier or a
// shuffle) or has finished, and then a random warp with runnable lanes goes next. So between two
// __syncthreads() each warp runs its whole stretch alone, in a random order of warps: a read of
// shared memory that another warp writes without a barrier in between reads stale data (or the
// NaN pattern dynamic shared memory starts with) for the first warps, and under ThreadSanitizer
// it is a reported race, because fibers are threads to it and only the barriers, the launch and
// the end of the grid order them. Blocks run in a shuffled order over the workers.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/cuda_cpu/exec_grid.h"
#include "tests/cuda_cpu/fiber.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define CUDA_CPU_RELEASE(addr) __tsan_release(addr)
#define CUDA_CPU_ACQUIRE(addr) __tsan_acquire(addr)
#define CUDA_CPU_SANITIZERS 1
#else
#define CUDA_CPU_RELEASE(addr) ((void)(addr))
#define CUDA_CPU_ACQUIRE(addr) ((void)(addr))
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CUDA_CPU_SANITIZERS 1
#endif
// The scheduler's own state is handed between fibers by the switches themselves; it must not
// order the kernel's memory accesses, so ThreadSanitizer does not see it.
#define CUDA_CPU_UNSEEN __attribute__((no_sanitize("thread"), noinline))

namespace cuda_cpu {

thread_local const ThreadIndex* t_current = nullptr;

namespace {

#if defined(CUDA_CPU_SANITIZERS)
constexpr size_t kStackBytes = 512 << 10;
#else
constexpr size_t kStackBytes = 64 << 10;
#endif

enum class State : uint8_t { Ready, AtBarrier, AtShuffle, Exited };

struct ThreadSlot {
  ThreadIndex index;
  State state = State::Ready;
  int warp = 0, lane = 0;
  const char* file = nullptr;  // where it waits
  int line = 0;
  unsigned mask = 0;  // of the shuffle it waits at
  int src = 0;
  uint64_t value = 0, result = 0;
  bool started = false;
  uint8_t parity = 0;  // of the barrier or exchange it waits at
};

struct BlockRun {
  const ThreadBody* body = nullptr;
  ThreadSlot* slots = nullptr;
  int n = 0, n_warps = 0;
  int exited = 0, at_barrier = 0;
  int* ready_in_warp = nullptr;
  int* arrived_in_warp = nullptr;  // lanes waiting at a shuffle
  int warp = -1, last_lane = 0;    // the warp running, and its lane that ran last
  void* shared = nullptr;
  std::string error;
  bool failed = false;  // error is set (read by the scheduler in place of the string)
  Fiber** fibers = nullptr;
  // ThreadSanitizer's view of what CUDA orders: the launch before every thread, every thread
  // before the block's end, a barrier's arrivals before its departures. A barrier's token is its
  // generation's (two alternate): a thread that has passed it and arrives at the next one must
  // not hand its new writes to a thread still leaving the previous one.
  char start_token = 0, end_token = 0, barrier_tokens[2] = {0, 0};
  uint32_t barrier_generation = 0;
  char* warp_tokens = nullptr;  // [warp][2]
  uint32_t* warp_generation = nullptr;
};

struct Worker {
  Fiber* main = nullptr;
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<Fiber*> fiber_ptrs;  // the same, as the scheduler reads them
  std::vector<ThreadSlot> slots;
  std::vector<int> ready_in_warp, arrived_in_warp;
  std::vector<char> warp_tokens;
  std::vector<uint32_t> warp_generation;
  BlockRun* block = nullptr;
  int running = -1;  // the slot whose fiber runs
  Fiber* running_fiber = nullptr;
  uint64_t rng = 1;  // xorshift64: the scheduler draws once per warp switch
};

CUDA_CPU_UNSEEN uint64_t draw(uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

CUDA_CPU_UNSEEN bool same_site(const char* file_a, int line_a, const char* file_b, int line_b) {
  return line_a == line_b && (file_a == file_b || std::strcmp(file_a, file_b) == 0);
}

thread_local Worker t_worker;

const char* base_name(const char* file) {
  const char* slash = std::strrchr(file, '/');
  return slash ? slash + 1 : file;
}

CUDA_CPU_UNSEEN void yield_to_scheduler(bool exits);

// The block's first failure, kept for the report (the scheduler then stops it).
void fail(BlockRun& b, const std::string& what) {
  if (b.failed) return;
  b.error = what;
  b.failed = true;
}

CUDA_CPU_UNSEEN void fiber_entry(void* arg) {
  Worker& w = t_worker;
  Fiber::started();
  BlockRun& b = *w.block;
  ThreadSlot& me = *static_cast<ThreadSlot*>(arg);
  CUDA_CPU_ACQUIRE(&b.start_token);
  try {
    (*b.body)();
  } catch (const std::exception& e) {
    fail(b, std::string("a kernel thread threw: ") + e.what());
  }
  CUDA_CPU_RELEASE(&b.end_token);
  me.state = State::Exited;
  yield_to_scheduler(true);
}

std::string where(const ThreadSlot& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "thread (%u,%u,%u) ", s.index.thread_idx.x, s.index.thread_idx.y,
                s.index.thread_idx.z);
  std::string out = buf;
  switch (s.state) {
    case State::AtBarrier:
      out += std::string("waits at __syncthreads() ") + base_name(s.file) + ":" +
             std::to_string(s.line);
      break;
    case State::AtShuffle:
      out += std::string("waits at a warp shuffle ") + base_name(s.file) + ":" +
             std::to_string(s.line);
      break;
    case State::Exited:
      out += "has finished";
      break;
    case State::Ready:
      out += "is runnable";
      break;
  }
  return out;
}

CUDA_CPU_UNSEEN void make_ready(BlockRun& b, ThreadSlot& s) {
  s.state = State::Ready;
  ++b.ready_in_warp[s.warp];
}

// A shuffle completes when every lane of its mask has arrived with the same mask at the same call.
// `arriving` is the lane that just arrived.
CUDA_CPU_UNSEEN void try_release_shuffle(BlockRun& b, const ThreadSlot& arriving) {
  const int warp = arriving.warp;
  ThreadSlot* lanes = b.slots + warp * 32;
  const int n_lanes = std::min(32, b.n - warp * 32);
  const unsigned mask = arriving.mask;
  const ThreadSlot* first = &arriving;
  const int expected = mask == 0xffffffffu ? 32 : __builtin_popcount(mask);
  // Not all there yet (a lane of the mask that has finished never comes: the block then ends in
  // a reported deadlock, naming it).
  if (++b.arrived_in_warp[warp] < expected) return;
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1u)) continue;
    if (l >= n_lanes) {
      fail(b, where(*first) + " with lane " + std::to_string(l) +
                  " in its mask, beyond the block's last thread");
      return;
    }
    const ThreadSlot& s = lanes[l];
    if (s.state == State::Exited) {
      fail(b, where(*first) + " for lane " + std::to_string(l) + ", which has finished");
      return;
    }
    if (s.state != State::AtShuffle) return;  // not there yet
    if (s.mask != mask || !same_site(s.file, s.line, first->file, first->line)) {
      fail(b, where(*first) + " and lane " + std::to_string(l) + " " + where(s) +
                  ": lanes of one mask at different shuffles");
      return;
    }
  }
  for (int l = 0; l < n_lanes; ++l) {
    if (!(mask >> l & 1u)) continue;
    const int src = lanes[l].src;
    if (src < 0 || src >= 32 || !(mask >> src & 1u)) {
      fail(b, where(lanes[l]) + " reading lane " + std::to_string(src) + ", outside its mask");
      return;
    }
    lanes[l].result = lanes[src].value;
  }
  for (int l = 0; l < n_lanes; ++l)
    if (mask >> l & 1u) make_ready(b, lanes[l]);
  b.arrived_in_warp[warp] -= expected;
  ++b.warp_generation[warp];
}

// __syncthreads() completes when every thread that has not finished waits at it (finished
// threads count as arrived), all at the same call.
CUDA_CPU_UNSEEN void try_release_barrier(BlockRun& b) {
  if (b.at_barrier == 0 || b.at_barrier + b.exited != b.n) return;
  const ThreadSlot* first = nullptr;
  for (int i = 0; i < b.n; ++i) {
    const ThreadSlot& s = b.slots[i];
    if (s.state != State::AtBarrier) continue;
    if (!first) {
      first = &s;
    } else if (!same_site(s.file, s.line, first->file, first->line)) {
      fail(b, where(*first) + " while " + where(s) + ": divergent __syncthreads()");
      return;
    }
  }
  for (int i = 0; i < b.n; ++i)
    if (b.slots[i].state == State::AtBarrier) make_ready(b, b.slots[i]);
  b.at_barrier = 0;
  ++b.barrier_generation;
}

// The next runnable lane of the warp after `after` (lanes take turns from a random start).
CUDA_CPU_UNSEEN int pick_lane(BlockRun& b, int warp, int after) {
  const int n_lanes = std::min(32, b.n - warp * 32);
  for (int k = 1; k <= n_lanes; ++k) {
    int l = after + k;
    if (l >= n_lanes) l -= n_lanes;
    if (b.slots[warp * 32 + l].state == State::Ready) return warp * 32 + l;
  }
  return -1;
}

// The scheduler, run by whichever fiber stops (so a switch goes from one kernel thread straight to
// the next): the bookkeeping for the thread that just stopped (nullptr at the block's start),
// then the next thread to run. Returns its fiber, or nullptr when the block is done or failed.
CUDA_CPU_UNSEEN Fiber* schedule(Worker& w, BlockRun& b, ThreadSlot* stopped) {
  if (stopped) {
    switch (stopped->state) {
      case State::Exited:
        ++b.exited;
        try_release_barrier(b);
        break;
      case State::AtBarrier:
        ++b.at_barrier;
        try_release_barrier(b);
        break;
      case State::AtShuffle:
        try_release_shuffle(b, *stopped);
        break;
      case State::Ready:
        break;
    }
  }
  if (b.failed) return nullptr;
  int next = -1;
  if (b.warp >= 0 && b.ready_in_warp[b.warp] > 0) next = pick_lane(b, b.warp, b.last_lane);
  if (next < 0) {
    const uint64_t r = draw(w.rng);
    const int start = int(r % unsigned(b.n_warps));
    for (int k = 0; k < b.n_warps && next < 0; ++k) {
      const int cand = (start + k) % b.n_warps;
      if (b.ready_in_warp[cand] > 0) {
        b.warp = cand;
        next = pick_lane(b, cand, int((r >> 32) % 32u));
      }
    }
  }
  if (next < 0) {
    if (b.exited == b.n) return nullptr;
    std::string waits;
    for (int i = 0; i < b.n && waits.size() < 600; ++i)
      if (b.slots[i].state != State::Exited) waits += "; " + where(b.slots[i]);
    fail(b, "deadlock: no thread can go on" + waits);
    return nullptr;
  }
  b.last_lane = next % 32;
  ThreadSlot& s = b.slots[next];
  --b.ready_in_warp[s.warp];
  Fiber* f = b.fibers[next];
  if (!s.started) {
    s.started = true;
    f->prepare(&fiber_entry, &s);
  }
  w.running = next;
  w.running_fiber = f;
  t_current = &s.index;
  return f;
}

CUDA_CPU_UNSEEN void yield_to_scheduler(bool exits) {
  Worker& w = t_worker;
  BlockRun& b = *w.block;
  Fiber* me = w.running_fiber;
  Fiber* to = schedule(w, b, &b.slots[w.running]);
  if (to == me) return;  // released and chosen again at once
  if (!to) {
    t_current = nullptr;
    to = w.main;
  }
  Fiber::switch_to(me, to, exits);
}

CUDA_CPU_UNSEEN void run_block(Worker& w, BlockRun& b) {
  if (Fiber* first = schedule(w, b, nullptr)) Fiber::switch_to(w.main, first);
  t_current = nullptr;  // back when the block is done (or failed)
}

}  // namespace

CUDA_CPU_UNSEEN void sync_block(const char* file, int line) {
  Worker& w = t_worker;
  BlockRun& b = *w.block;
  ThreadSlot& me = b.slots[w.running];
  me.state = State::AtBarrier;
  me.file = file;
  me.line = line;
  me.parity = uint8_t(b.barrier_generation & 1);
  CUDA_CPU_RELEASE(&b.barrier_tokens[me.parity]);
  yield_to_scheduler(false);
  CUDA_CPU_ACQUIRE(&b.barrier_tokens[me.parity]);
}

CUDA_CPU_UNSEEN void exchange(unsigned mask, const void* value, size_t size, int src, void* out,
                              const char* file, int line) {
  Worker& w = t_worker;
  BlockRun& b = *w.block;
  ThreadSlot& me = b.slots[w.running];
  if (!(mask >> me.lane & 1u)) {
    if (!b.failed)
      fail(b, where(me) + " shuffles with a mask that leaves itself out (" + base_name(file) + ":" +
                  std::to_string(line) + ")");
  }
  me.value = 0;
  std::memcpy(&me.value, value, size);
  me.src = src;
  me.mask = mask;
  me.file = file;
  me.line = line;
  me.state = State::AtShuffle;
  me.parity = uint8_t(b.warp_generation[me.warp] & 1);
  CUDA_CPU_RELEASE(&b.warp_tokens[2 * me.warp + me.parity]);
  yield_to_scheduler(false);
  CUDA_CPU_ACQUIRE(&b.warp_tokens[2 * me.warp + me.parity]);
  std::memcpy(out, &me.result, size);
}

CUDA_CPU_UNSEEN int lane_id() {
  Worker& w = t_worker;
  return w.block->slots[w.running].lane;
}

void* dynamic_shared() {
  return t_worker.block->shared;
}

namespace {

// The workers: the calling thread and LONGCTX_CUDA_CPU_WORKERS - 1 others (default: the cores,
// at most 4), each running whole blocks.
class Pool {
 public:
  Pool() {
    int n = int(std::min(4u, std::max(1u, std::thread::hardware_concurrency())));
    if (const char* env = std::getenv("LONGCTX_CUDA_CPU_WORKERS")) n = std::max(1, std::atoi(env));
    for (int i = 1; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  // Runs job on every worker (this thread included) and returns when all have returned.
  void run(const std::function<void()>& job) {
    {
      std::lock_guard<std::mutex> lock(m_);
      job_ = &job;
      ++generation_;
      busy_ = int(threads_.size());
    }
    cv_.notify_all();
    job();
    std::unique_lock<std::mutex> lock(m_);
    done_.wait(lock, [this] { return busy_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void()>* job;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      (*job)();
      std::lock_guard<std::mutex> lock(m_);
      if (--busy_ == 0) done_.notify_all();
    }
  }
  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable cv_, done_;
  const std::function<void()>* job_ = nullptr;
  uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
};

uint64_t seed() {
  static const uint64_t s = [] {
    const char* env = std::getenv("LONGCTX_CUDA_CPU_SEED");
    return env ? std::strtoull(env, nullptr, 10) : uint64_t(20261207);
  }();
  return s;
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void run_one_block(const GridRun& g, uint64_t linear, std::string* error) {
  Worker& w = t_worker;
  if (!w.main) w.main = Fiber::for_this_thread();
  const dim3 bd = g.block;
  const int n = int(bd.x * bd.y * bd.z);
  const int n_warps = (n + 31) / 32;
  while (int(w.fibers.size()) < n) {
    w.fibers.push_back(std::make_unique<Fiber>(kStackBytes));
    w.fiber_ptrs.push_back(w.fibers.back().get());
  }
  w.slots.assign(size_t(n), ThreadSlot{});
  w.ready_in_warp.assign(size_t(n_warps), 0);
  w.warp_tokens.assign(size_t(2 * n_warps), 0);
  w.warp_generation.assign(size_t(n_warps), 0);
  w.arrived_in_warp.assign(size_t(n_warps), 0);
  w.rng = mix(g.seed ^ mix(linear)) | 1;
  const uint3 bi{unsigned(linear % g.grid.x), unsigned(linear / g.grid.x % g.grid.y),
                 unsigned(linear / (uint64_t(g.grid.x) * g.grid.y))};
  for (int i = 0; i < n; ++i) {
    ThreadSlot& s = w.slots[size_t(i)];
    s.index = {{unsigned(i) % bd.x, unsigned(i) / bd.x % bd.y, unsigned(i) / (bd.x * bd.y)},
               bi,
               bd,
               g.grid};
    s.warp = i / 32;
    s.lane = i % 32;
    ++w.ready_in_warp[size_t(s.warp)];
  }
  BlockRun b;
  b.body = g.body;
  b.slots = w.slots.data();
  b.fibers = w.fiber_ptrs.data();
  b.n = n;
  b.n_warps = n_warps;
  b.ready_in_warp = w.ready_in_warp.data();
  b.arrived_in_warp = w.arrived_in_warp.data();
  b.warp_tokens = w.warp_tokens.data();
  b.warp_generation = w.warp_generation.data();
  b.shared = std::malloc(std::max<size_t>(g.shared, 1));
  std::memset(b.shared, 0xff, g.shared);
  w.block = &b;
  CUDA_CPU_RELEASE(&b.start_token);
  run_block(w, b);
  CUDA_CPU_ACQUIRE(&b.end_token);
  w.block = nullptr;
  std::free(b.shared);
  if (b.failed) {
    *error = "block (" + std::to_string(bi.x) + "," + std::to_string(bi.y) + "," +
             std::to_string(bi.z) + "): " + b.error;
    // The block's fibers stay where they stopped; fresh ones serve the next launch.
    w.fibers.clear();
    w.fiber_ptrs.clear();
  }
}

}  // namespace

std::string run_grid(const GridRun& g) {
  static Pool pool;
  const uint64_t total = uint64_t(g.grid.x) * g.grid.y * g.grid.z;
  std::vector<uint64_t> order(total);
  for (uint64_t i = 0; i < total; ++i) order[i] = i;
  std::mt19937_64 rng(mix(g.seed));
  std::shuffle(order.begin(), order.end(), rng);
  std::atomic<uint64_t> next{0};
  std::mutex error_m;
  std::string first_error;
  std::atomic<bool> failed{false};
  pool.run([&] {
    std::string error;
    for (uint64_t i; !failed.load() && (i = next.fetch_add(1)) < total;) {
      run_one_block(g, order[i], &error);
      if (!error.empty()) {
        std::lock_guard<std::mutex> lock(error_m);
        if (first_error.empty()) first_error = error;
        failed = true;
      }
    }
  });
  return first_error;
}

uint64_t launch_seed(uint64_t launch_number) {
  return mix(seed() ^ mix(launch_number));
}

}  // namespace cuda_cpu
