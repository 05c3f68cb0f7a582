// The connections of one queue to its log server (tcp-log, http-log): resolved asynchronously,
// connected and TLS-handshaken under the plugin's timeout, kept alive between batches for the
// plugin's keepalive (an idle connection is checked before reuse: net::UpstreamPool).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "net/deadline.h"
#include "net/resolver.h"
#include "net/upstream_pool.h"

namespace gh::logsink {

struct ServerAddress {
  std::string host;
  uint16_t port = 0;
  bool tls = false;
  std::string sni;  // TLS server name ("" : none); the certificate is not verified (as Kong)
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds keepalive{60000};

  std::string where() const { return host + ":" + std::to_string(port); }
};

class LogServer {
 public:
  explicit LogServer(ServerAddress address);

  struct Opened {
    std::unique_ptr<net::UpstreamConnection> connection;  // null on failure
    std::string error;                                    // why not
    bool handshake_failed = false;                        // connected, but TLS failed
    bool fresh = true;                                    // false: a kept connection, reused
  };
  // A connection (a kept one when it is still good), its operations bounded by `deadline`.
  // On the log shipping loop only.
  boost::asio::awaitable<Opened> open(net::Deadline& deadline);
  // Keeps a connection after a complete exchange, for the next batch.
  void keep(std::unique_ptr<net::UpstreamConnection> connection);

  const ServerAddress& address() const { return address_; }

 private:
  ServerAddress address_;
  std::optional<net::Resolver> resolver_;  // made on the loop, on first use
  net::UpstreamPool pool_;
};

// "connection refused", "timeout", ... from an Asio error (a deadline's cancel reads "timeout").
std::string describe(const boost::system::error_code& ec, const net::Deadline& deadline);

}  // namespace gh::logsink
