// The memory a session may take counts the limits a container or a batch scheduler sets, not only
// the machine's: /proc and cgroup files laid out as the kernel writes them (cgroup v2 as systemd
// and Docker mount it, v1 as older Docker and Slurm's task/cgroup do).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "support/memory.h"

using namespace longctx;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

struct FakeSystem {
  fs::path root = fs::temp_directory_path() / "longctx-memory-test";
  fs::path proc = root / "proc", cg = root / "cgroup";
  explicit FakeSystem(const std::string& self_cgroup, int64_t mem_available_kb = 16 << 20) {
    fs::remove_all(root);
    write(proc / "meminfo",
          "MemTotal:       32000000 kB\nMemFree:         1000 kB\n"
          "MemAvailable:   " +
              std::to_string(mem_available_kb) + " kB\n");
    write(proc / "self/cgroup", self_cgroup);
    write(proc / "self/status", "Name:\tlongctx\nVmSize:\t  123456 kB\n");
  }
  ~FakeSystem() { fs::remove_all(root); }
  MemoryAvailable read() const { return memory_available(proc.string(), cg.string()); }
};

}  // namespace

TEST_CASE("no cgroup limit: MemAvailable", "[memory]") {
  FakeSystem sys("0::/user.slice/session.scope\n");
  write(sys.cg / "user.slice/session.scope/memory.max", "max\n");
  write(sys.cg / "user.slice/session.scope/memory.current", "1000\n");
  const MemoryAvailable m = sys.read();
  CHECK(m.ram == (int64_t(16) << 30));
  CHECK(m.ram_limit == "MemAvailable");
}

TEST_CASE("cgroup v2: the tightest memory.max of the cgroup and its ancestors", "[memory]") {
  FakeSystem sys("0::/system.slice/docker-abc.scope\n");
  write(sys.cg / "system.slice/memory.max", "8589934592\n");  // 8 GiB on the parent
  write(sys.cg / "system.slice/memory.current", "1073741824\n");
  write(sys.cg / "system.slice/docker-abc.scope/memory.max", "4294967296\n");  // 4 GiB
  write(sys.cg / "system.slice/docker-abc.scope/memory.current", "1073741824\n");
  const MemoryAvailable m = sys.read();
  CHECK(m.ram == int64_t(3) << 30);  // 4 GiB - 1 GiB used
  CHECK_THAT(m.ram_limit, Catch::Contains("docker-abc.scope/memory.max"));
  // A tighter ancestor wins.
  write(sys.cg / "system.slice/memory.max", "2147483648\n");  // 2 GiB, 1 GiB used
  CHECK(sys.read().ram == int64_t(1) << 30);
}

TEST_CASE("cgroup v1 (Slurm, older Docker): memory.limit_in_bytes minus usage", "[memory]") {
  FakeSystem sys("12:pids:/slurm/uid_0/job_7\n4:memory:/slurm/uid_0/job_7/step_0\n");
  write(sys.cg / "memory/slurm/uid_0/job_7/step_0/memory.limit_in_bytes", "6442450944\n");
  write(sys.cg / "memory/slurm/uid_0/job_7/step_0/memory.usage_in_bytes", "2147483648\n");
  // v1 writes "no limit" as a page count near 2^63.
  write(sys.cg / "memory/slurm/uid_0/job_7/memory.limit_in_bytes", "9223372036854771712\n");
  const MemoryAvailable m = sys.read();
  CHECK(m.ram == int64_t(4) << 30);
  CHECK_THAT(m.ram_limit, Catch::Contains("step_0/memory.limit_in_bytes"));
}

TEST_CASE("a cgroup namespace shows its own cgroup at the mount's root", "[memory]") {
  FakeSystem sys("0::/\n");
  write(sys.cg / "memory.max", "1073741824\n");
  write(sys.cg / "memory.current", "0\n");
  CHECK(sys.read().ram == int64_t(1) << 30);
}

TEST_CASE("cgroup files: numbers, max, and garbage", "[memory]") {
  FakeSystem sys("0::/\n");
  write(sys.cg / "a", "max\n");
  write(sys.cg / "b", "12345\n");
  write(sys.cg / "c", "-5\n");
  write(sys.cg / "d", "12x\n");
  CHECK(read_cgroup_bytes((sys.cg / "a").string()) == -1);
  CHECK(read_cgroup_bytes((sys.cg / "b").string()) == 12345);
  CHECK(read_cgroup_bytes((sys.cg / "c").string()) == -1);
  CHECK(read_cgroup_bytes((sys.cg / "d").string()) == -1);
  CHECK(read_cgroup_bytes((sys.cg / "missing").string()) == -1);
}
