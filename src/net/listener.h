// Opening listening sockets the way Kong's proxy_listen/admin_listen describe them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/log_throttle.h"

namespace gh::net {

struct ListenOptions {
  std::string host;
  uint16_t port = 0;
  int backlog = 511;
  bool reuseport = true;  // every worker binds its own socket: the kernel spreads connections
};

// Throws std::system_error with "host:port: reason" on failure.
boost::asio::ip::tcp::acceptor open_listener(boost::asio::any_io_executor ex, const ListenOptions& options);

// What an accept loop does when accept() fails. A full descriptor table (EMFILE/ENFILE) or
// exhausted kernel memory (ENOBUFS/ENOMEM) leaves the connection in the backlog, so accepting
// again at once fails again at once: a loop that burns a core and floods the log. As nginx does,
// accepting pauses then (500 ms, nginx's accept_mutex_delay) and resumes by itself once
// descriptors are free; every failure is logged at most once per second per loop, the next line
// saying how many were not.
class AcceptFailures {
 public:
  static constexpr std::chrono::milliseconds kPause{500};

  explicit AcceptFailures(boost::asio::any_io_executor ex)
      : timer_(std::move(ex)), throttle_(std::chrono::seconds(1)) {}

  // Logs the failure of `what` (e.g. "proxy 0.0.0.0:8000"), then waits when it calls for a pause.
  boost::asio::awaitable<void> handle(const boost::system::error_code& ec, std::string_view what);

  // Failures that mean "no resources now": retrying at once cannot succeed.
  static bool needs_pause(const boost::system::error_code& ec);

 private:
  boost::asio::steady_timer timer_;
  log::Throttle throttle_;
};

// Raises the soft limit on open files (RLIMIT_NOFILE) to the hard limit, as Kong's
// nginx_main_worker_rlimit_nofile = auto gives nginx the most the system allows: every proxied
// connection holds two descriptors (client and upstream). Returns the soft limit now in force
// (0 if it could not be read).
uint64_t raise_open_file_limit();

}  // namespace gh::net
