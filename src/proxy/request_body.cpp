#include "proxy/request_body.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/log.h"

namespace gh::proxy {

SpooledBody::SpooledBody(size_t memory_limit, std::string temp_dir)
    : memory_limit_(memory_limit), temp_dir_(std::move(temp_dir)) {}

SpooledBody::~SpooledBody() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(path_.c_str());
}

bool SpooledBody::append(std::string_view bytes) {
  size_ += bytes.size();
  if (memory_.size() + bytes.size() <= memory_limit_) {
    memory_.append(bytes);
    return true;
  }
  if (fd_ < 0 && !spill()) return false;
  // In the file: memory_ batches small pieces into buffer-sized writes, as nginx's buffer does.
  if (!write_all(memory_)) return false;
  memory_.clear();
  if (bytes.size() >= memory_limit_) return write_all(bytes);
  memory_.append(bytes);
  return true;
}

bool SpooledBody::finish() {
  if (fd_ < 0 || memory_.empty()) return true;
  const bool written = write_all(memory_);
  memory_.clear();
  return written;
}

// The body outgrew the buffer: from now on it lives in a file (created 0600, close-on-exec, so
// plugin servers started later do not inherit it; they may read it by path, as Kong allows).
bool SpooledBody::spill() {
  if (::mkdir(temp_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    error_ = "cannot create " + temp_dir_ + ": " + std::strerror(errno);
    return false;
  }
  std::string name = temp_dir_ + "/body.XXXXXX";
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) {
    error_ = "cannot create a file in " + temp_dir_ + ": " + std::strerror(errno);
    return false;
  }
  path_ = std::move(name);
  return true;
}

bool SpooledBody::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = "cannot write to " + path_ + ": " + (n < 0 ? std::strerror(errno) : "no space written");
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

long SpooledBody::read_at(uint64_t offset, char* out, size_t length) const {
  while (true) {
    const ssize_t n = ::pread(fd_, out, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    return static_cast<long>(n);
  }
}

size_t SpooledBody::read_to_send(uint64_t offset, char* out, size_t length) const {
  const long n = read_at(offset, out, std::min<uint64_t>(length, size_ - offset));
  if (n > 0) return static_cast<size_t>(n);
  spdlog::error("cannot read the buffered request body {}: {}", path_,
                n < 0 ? std::strerror(errno) : "file shorter than the body");
  return 0;
}

}  // namespace gh::proxy
