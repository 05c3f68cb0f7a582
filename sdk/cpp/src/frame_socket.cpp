#include "frame_socket.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gatehouse::pdk::detail {

FrameSocket::FrameSocket(int fd) : fd_(fd), buffer_(64 * 1024) {}

FrameSocket::~FrameSocket() {
  close();
}

void FrameSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool FrameSocket::fill(std::size_t bytes) {
  if (end_ - begin_ >= bytes) return true;
  if (begin_ > 0) {  // compact: unread bytes to the front
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() < bytes) buffer_.resize(bytes);
  while (end_ < bytes) {
    ssize_t n = ::recv(fd_, buffer_.data() + end_, buffer_.size() - end_, 0);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

std::optional<std::string_view> FrameSocket::read_frame() {
  if (fd_ < 0 || !fill(4)) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + begin_);
  std::uint32_t length = p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24);
  if (length > kMaxFrame || !fill(4 + std::size_t{length})) return std::nullopt;
  std::string_view frame(buffer_.data() + begin_ + 4, length);
  begin_ += 4 + length;
  return frame;
}

bool FrameSocket::write_frames(std::initializer_list<std::string_view> frames) {
  if (fd_ < 0) return false;
  constexpr std::size_t kMaxPieces = 4;
  unsigned char headers[kMaxPieces][4];
  iovec iov[kMaxPieces * 2];
  std::size_t count = 0, total = 0, i = 0;
  for (std::string_view frame : frames) {
    if (i == kMaxPieces) return false;
    auto length = static_cast<std::uint32_t>(frame.size());
    for (int b = 0; b < 4; ++b) headers[i][b] = static_cast<unsigned char>(length >> (8 * b));
    iov[count++] = {headers[i], 4};
    if (!frame.empty()) iov[count++] = {const_cast<char*>(frame.data()), frame.size()};
    total += 4 + frame.size();
    ++i;
  }
  iovec* next = iov;
  while (total > 0) {
    msghdr msg{};
    msg.msg_iov = next;
    msg.msg_iovlen = count - static_cast<std::size_t>(next - iov);
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);  // no SIGPIPE when the gateway went away
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    total -= static_cast<std::size_t>(n);
    auto sent = static_cast<std::size_t>(n);
    while (sent > 0 && sent >= next->iov_len) sent -= next++->iov_len;
    if (sent > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + sent;
      next->iov_len -= sent;
    }
  }
  return true;
}

void append_frame(std::string& out, std::string_view payload) {
  auto length = static_cast<std::uint32_t>(payload.size());
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>(length >> (8 * b)));
  out.append(payload);
}

bool FrameSocket::write_framed(std::string_view bytes) {
  while (fd_ >= 0 && !bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return fd_ >= 0;
}

}  // namespace gatehouse::pdk::detail
