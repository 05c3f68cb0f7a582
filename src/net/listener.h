// Opening listening sockets the way Kong's proxy_listen/admin_listen describe them.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>

namespace gh::net {

struct ListenOptions {
  std::string host;
  uint16_t port = 0;
  int backlog = 511;
  bool reuseport = true;  // every worker binds its own socket: the kernel spreads connections
};

// Throws std::system_error with "host:port: reason" on failure.
boost::asio::ip::tcp::acceptor open_listener(boost::asio::any_io_executor ex, const ListenOptions& options);

}  // namespace gh::net
