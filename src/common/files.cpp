#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace gh {

namespace {

struct Descriptor {
  int fd;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

FileText read_file_at_most(const std::string& path, size_t limit) {
  FileText file;
  const Descriptor in{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat about {};
  if (in.fd < 0 || ::fstat(in.fd, &about) != 0) return file;
  // A regular file says its size: one past the limit is refused without a byte read. Others
  // (/dev/zero, a pipe) say nothing useful and are read until they pass the limit.
  const bool regular = S_ISREG(about.st_mode);
  if (regular && static_cast<uint64_t>(about.st_size) > limit) {
    file.status = FileText::Status::too_large;
    return file;
  }
  file.text.resize(regular ? static_cast<size_t>(about.st_size) + 1 : std::min<size_t>(limit + 1, 64 * 1024));
  size_t used = 0;
  while (true) {
    if (used == file.text.size()) {
      if (used > limit) break;
      file.text.resize(std::min(limit + 1, 2 * used));
    }
    const ssize_t n = ::read(in.fd, file.text.data() + used, file.text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileText{};  // a directory, an I/O error: not readable
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > limit) {
    file.status = FileText::Status::too_large;
    file.text.clear();
    return file;
  }
  file.text.resize(used);
  file.status = FileText::Status::read;
  return file;
}

}  // namespace gh
