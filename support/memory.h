// How much memory this process may still take, counting every limit it runs under: the machine's
// available memory, the memory cgroup a container or a Slurm job puts it in (v1 and v2, the
// tightest of its ancestors), and the address-space limit of `ulimit -v`.
#pragma once

#include <cstdint>
#include <string>

namespace longctx {

struct MemoryAvailable {
  // Bytes of RAM the process may still fill: MemAvailable, lowered to the cgroup's room
  // (limit - usage). 0 when nothing can be read.
  int64_t ram = 0;
  std::string ram_limit;  // what sets it: "MemAvailable", "cgroup memory.max", ...
  // RLIMIT_AS minus what the process has mapped already (VmSize); -1 when unlimited.
  int64_t address_space = -1;
};

// `proc` and `cgroup_root` are the mount points ("/proc", "/sys/fs/cgroup"); tests point them at
// files of their own.
MemoryAvailable memory_available(const std::string& proc = "/proc",
                                 const std::string& cgroup_root = "/sys/fs/cgroup");

// A cgroup's limit and usage files as the kernel writes them: a number, or "max" (v2) or a
// value near 2^63 (v1) for none. -1 for none, unreadable or malformed.
int64_t read_cgroup_bytes(const std::string& path);

// The most resident memory this process has held so far (getrusage's maximum RSS), in bytes.
long peak_rss_bytes();

}  // namespace longctx
