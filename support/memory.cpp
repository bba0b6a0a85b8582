#include "support/memory.h"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace longctx {
namespace {

namespace fs = std::filesystem;

// cgroup v1 writes "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages).
constexpr int64_t kNoLimit = int64_t(1) << 62;

// The value of `key` (in kB) in a /proc file of "Key:   123 kB" lines, in bytes; -1 if absent.
int64_t proc_kb(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    int64_t kb = -1;
    if (fields >> kb) return kb * 1024;
  }
  return -1;
}

struct CgroupRoom {
  int64_t bytes = -1;  // limit - usage at the tightest level; -1: no limit
  std::string file;    // the limit file that sets it
};

// Walks from `dir` up to `top`, taking the smallest limit - usage.
CgroupRoom room_up(fs::path dir, const fs::path& top, const char* limit_name,
                   const char* usage_name) {
  CgroupRoom room;
  while (true) {
    const int64_t limit = read_cgroup_bytes((dir / limit_name).string());
    const int64_t usage = read_cgroup_bytes((dir / usage_name).string());
    if (limit >= 0) {
      const int64_t left = std::max<int64_t>(0, limit - std::max<int64_t>(usage, 0));
      if (room.bytes < 0 || left < room.bytes) room = {left, (dir / limit_name).string()};
    }
    if (dir == top || !dir.has_parent_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
    if (dir.string().size() < top.string().size()) break;
  }
  return room;
}

// The cgroups of this process (/proc/self/cgroup: "ID:controllers:path"), v2 and v1's memory.
CgroupRoom cgroup_room(const std::string& proc, const fs::path& root) {
  std::ifstream in(proc + "/self/cgroup");
  std::string line;
  CgroupRoom best;
  auto take = [&](const CgroupRoom& r) {
    if (r.bytes >= 0 && (best.bytes < 0 || r.bytes < best.bytes)) best = r;
  };
  while (std::getline(in, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    while (!path.empty() && path.front() == '/') path.erase(0, 1);
    bool memory = false;
    std::istringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');) memory |= c == "memory";
    if (controllers.empty()) {  // v2: one hierarchy at the root (or under unified/)
      for (const fs::path& top : {root, root / "unified"}) {
        fs::path dir = top / path;
        // A cgroup namespace shows its own cgroup as the root of the mount.
        if (!fs::exists(dir)) dir = top;
        take(room_up(dir, top, "memory.max", "memory.current"));
      }
    } else if (memory) {
      const fs::path top = root / "memory";
      fs::path dir = top / path;
      if (!fs::exists(dir)) dir = top;
      take(room_up(dir, top, "memory.limit_in_bytes", "memory.usage_in_bytes"));
    }
  }
  return best;
}

}  // namespace

int64_t read_cgroup_bytes(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return -1;
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used != text.size() || v < 0 || v >= kNoLimit) return -1;
    return v;
  } catch (const std::exception&) {
    return -1;
  }
}

MemoryAvailable memory_available(const std::string& proc, const std::string& cgroup_root) {
  MemoryAvailable m;
  m.ram = std::max<int64_t>(0, proc_kb(proc + "/meminfo", "MemAvailable"));
  m.ram_limit = "MemAvailable";
  const CgroupRoom cg = cgroup_room(proc, cgroup_root);
  if (cg.bytes >= 0 && (m.ram == 0 || cg.bytes < m.ram)) {
    m.ram = cg.bytes;
    m.ram_limit = "the cgroup limit " + cg.file;
  }
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    const int64_t mapped = std::max<int64_t>(0, proc_kb(proc + "/self/status", "VmSize"));
    m.address_space = std::max<int64_t>(0, int64_t(as.rlim_cur) - mapped);
  }
  return m;
}

long peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss * 1024L;
}

}  // namespace longctx
