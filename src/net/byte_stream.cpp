#include "net/byte_stream.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace gh::net {

namespace {

// Drops the first `n` bytes of `buffers`.
void consume(std::vector<boost::asio::const_buffer>& buffers, size_t n) {
  auto it = buffers.begin();
  while (it != buffers.end() && n >= it->size()) n -= (it++)->size();
  if (it != buffers.end()) *it += n;
  buffers.erase(buffers.begin(), it);
}

}  // namespace

size_t ByteStream::write_now(std::vector<boost::asio::const_buffer>& buffers, boost::system::error_code& ec) {
  ec.clear();
  if (is_tls() || buffers.empty()) return 0;
  std::array<iovec, 64> iov;  // as Asio: a longer list goes out in more than one call
  const size_t count = std::min(buffers.size(), iov.size());
  for (size_t i = 0; i < count; ++i) iov[i] = {const_cast<void*>(buffers[i].data()), buffers[i].size()};
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  ssize_t sent;
  do sent = ::sendmsg(socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) ec.assign(errno, boost::asio::error::get_system_category());
    return 0;
  }
  consume(buffers, static_cast<size_t>(sent));
  return static_cast<size_t>(sent);
}

}  // namespace gh::net
