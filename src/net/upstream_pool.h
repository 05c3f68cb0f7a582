// Idle keep-alive connections to upstreams, one pool per worker thread (no locking: a pool is
// only touched from its worker's io_context). Keyed by the upstream's endpoint (ip, port).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/byte_stream.h"

namespace gh::net {

using Endpoint = boost::asio::ip::tcp::endpoint;

struct EndpointHash {
  size_t operator()(const Endpoint& e) const noexcept;
};

struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::any_io_executor ex)
      : stream(boost::asio::ip::tcp::socket(ex)), socket(stream.socket()) {}
  // A TLS connection (`protocol: https` services); `owner` keeps `context` alive.
  UpstreamConnection(boost::asio::any_io_executor ex, boost::asio::ssl::context& context,
                     std::shared_ptr<const void> owner, std::string tls_identity)
      : stream(boost::asio::ip::tcp::socket(ex), context, std::move(owner)),
        socket(stream.socket()),
        tls_key(std::move(tls_identity)) {}
  ByteStream stream;                     // what requests and responses travel on
  boost::asio::ip::tcp::socket& socket;  // the TCP connection under `stream`
  // "" for plain TCP; for TLS what the session was set up for (service, SNI, verification):
  // a pooled TLS connection is only reused for requests needing the same.
  std::string tls_key;
  Endpoint key;
  std::string address_text;  // key as "ip:port", formatted once (inet_ntop is ~1.7k instructions)
  std::chrono::steady_clock::time_point idle_since{};
  int requests = 0;
};

struct PoolLimits {
  size_t max_idle_per_key = 512;          // upstream_keepalive_pool_size
  int max_requests = 10000;               // upstream_keepalive_max_requests
  std::chrono::seconds idle_timeout{60};  // upstream_keepalive_idle_timeout
};

class UpstreamPool {
 public:
  explicit UpstreamPool(PoolLimits limits = {}) : limits_(limits) {}
  void set_limits(PoolLimits limits) { limits_ = limits; }

  // A live idle connection for `key` (and `tls_key`, "" for plain TCP), or null. Every
  // connection handed out was checked just now with a non-blocking recv(MSG_PEEK): one the peer
  // closed, reset, or sent any byte on while idle (a late or unsolicited response that would be
  // read as the next request's answer) is dropped, as is one idle for too long. Nothing was sent
  // on a dropped connection, so a request never needs a retry for it.
  std::unique_ptr<UpstreamConnection> take(const Endpoint& key, std::string_view tls_key = {});
  // Returns a connection after a complete response that allows reuse.
  void give_back(std::unique_ptr<UpstreamConnection> conn);
  size_t idle_count() const;

 private:
  PoolLimits limits_;
  std::unordered_map<Endpoint, std::vector<std::unique_ptr<UpstreamConnection>>, EndpointHash> idle_;
};

}  // namespace gh::net
