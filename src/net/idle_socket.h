// Is an idle keep-alive connection still usable? It must have nothing to read: readable means the
// peer closed it (a restarted plugin server, an upstream's keep-alive timeout) or sent bytes nobody
// asked for; either way a request written on it would fail. One syscall per reuse.
#pragma once

#include <sys/socket.h>

#include <cerrno>

namespace gh::net {

inline bool idle_socket_alive(int fd) {
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace gh::net
