// How a connection to an upstream is made, for every proxy that makes one (HTTP and stream):
// a pooled keep-alive connection when the caller allows one, else the host resolved, the chosen
// address connected and, for TLS services, the handshake done with the service's context, each
// step within the connect timeout. It knows nothing about requests: the caller says where to go
// and how (ConnectTarget) and what its worker lends it (ConnectorResources).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/deadline.h"
#include "net/resolver.h"
#include "net/upstream_pool.h"
#include "tls/upstream_tls.h"

namespace gh::upstream {

// Why no connection was made. A failed TLS handshake counts as refused, as nginx reports it.
enum class ConnectError { none, resolve, refused, timed_out };

// Where one try goes and how.
struct ConnectTarget {
  std::string host;  // a name or an IP literal
  uint16_t port = 0;
  // Picks the address among the host's: the try number, so retries walk the addresses.
  size_t attempt = 0;
  // For the TCP connect, and again for the TLS handshake.
  std::chrono::milliseconds timeout{};
  // TLS: the service's context (tls::UpstreamTls::context; none: plain TCP), the name sent as SNI
  // and verified, whether to verify.
  bool tls = false;
  std::string service_id;
  std::string server_name;
  bool verify = true;
  // What a TLS session was set up for ("" for plain TCP): a pooled connection is reused only
  // for a target with the same key.
  std::string tls_key;
  // HTTP/2 upstreams (grpc, grpcs): a new connection, never a pooled HTTP/1.1 one; TLS offers
  // ALPN "h2" only, and a server that does not choose it refused the connection.
  bool http2 = false;
};

// What the connector borrows from its worker.
struct ConnectorResources {
  boost::asio::any_io_executor executor;
  net::Resolver& resolver;
  net::UpstreamPool* pool = nullptr;  // null: never reuse (the stream proxy)
  // The current TLS contexts, asked only when a new TLS connection is made.
  std::function<std::shared_ptr<const tls::UpstreamTls>()> tls_contexts;
};

class Connector {
 public:
  Connector(ConnectorResources resources, net::Deadline& deadline)
      : resources_(std::move(resources)), deadline_(deadline) {}

  // A pooled keep-alive connection to the target when its addresses are known without a lookup,
  // else null. Synchronous: the common case of a proxied request needs no coroutine of its own.
  // `address` becomes the connection's "ip:port".
  std::unique_ptr<net::UpstreamConnection> take_pooled(const ConnectTarget& target, std::string& address);
  // Resolves the host, then a pooled connection or a new one. `address` becomes the "ip:port"
  // tried (also on failure, for the logs).
  boost::asio::awaitable<ConnectError> connect(const ConnectTarget& target, std::string& address,
                                               std::unique_ptr<net::UpstreamConnection>& out);

 private:
  std::unique_ptr<net::UpstreamConnection> take_pooled(const ConnectTarget& target,
                                                       const std::vector<boost::asio::ip::address>& addresses,
                                                       std::string& address);
  std::unique_ptr<net::UpstreamConnection> new_connection(const ConnectTarget& target);
  boost::asio::awaitable<bool> handshake(const ConnectTarget& target, net::UpstreamConnection& conn);

  ConnectorResources resources_;
  net::Deadline& deadline_;
};

}  // namespace gh::upstream
