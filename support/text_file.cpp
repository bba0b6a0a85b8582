#include "support/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/error.h"

namespace longctx {
namespace {

std::string describe_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

int open_regular_file(const std::string& path, size_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": is " + describe_kind(st.st_mode) + ", expected a regular file");
  }
  *size = size_t(st.st_size);
  return fd;
}

namespace {

std::string read_all(int fd, const std::string& path, size_t max_bytes) {
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // standard input as a non-blocking pipe: wait for data
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        ::select(fd + 1, &set, nullptr, nullptr, nullptr);
        continue;
      }
      throw Error(path + ": cannot read: " + std::strerror(errno));
    }
    if (got == 0) return out;
    if (out.size() + size_t(got) > max_bytes) {
      throw Error(path + ": larger than the " + std::to_string(max_bytes >> 20) +
                  " MiB this reader accepts");
    }
    out.append(buf, size_t(got));
  }
}

}  // namespace

void require_regular_file(const std::string& path) {
  size_t size = 0;
  ::close(open_regular_file(path, &size));
}

std::string read_text_file(const std::string& path, size_t max_bytes) {
  if (path == "-") {
    struct stat st {};
    if (::fstat(0, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)))
      throw Error("standard input: expected a file or a pipe");
    return read_all(0, "standard input", max_bytes);
  }
  size_t size = 0;
  int fd = open_regular_file(path, &size);
  if (size > max_bytes) {
    ::close(fd);
    throw Error(path + ": " + std::to_string(size) + " bytes, larger than the " +
                std::to_string(max_bytes >> 20) + " MiB this reader accepts");
  }
  try {
    std::string text = read_all(fd, path, max_bytes);
    ::close(fd);
    return text;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

nlohmann::json read_json_file(const std::string& path, size_t max_bytes) {
  std::string text = read_text_file(path, max_bytes);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not valid JSON at byte offset " +
                std::to_string(e.byte > 0 ? e.byte - 1 : 0));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not readable JSON: " + e.what());
  }
}

}  // namespace longctx
