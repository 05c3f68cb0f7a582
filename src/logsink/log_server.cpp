#include "logsink/log_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gh::logsink {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Kong's log plugins hand the TLS handshake ssl_verify = false: no certificate check.
asio::ssl::context& client_context() {
  static asio::ssl::context context = [] {
    asio::ssl::context c(asio::ssl::context::tls_client);
    c.set_verify_mode(asio::ssl::verify_none);
    return c;
  }();
  return context;
}

net::PoolLimits pool_limits(std::chrono::milliseconds keepalive) {
  net::PoolLimits limits;
  limits.max_idle_per_key = 64;  // concurrency_limit -1 delivers batches in parallel
  limits.idle_timeout = std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(keepalive));
  return limits;
}

}  // namespace

std::string describe(const boost::system::error_code& ec, const net::Deadline& deadline) {
  if (deadline.expired()) return "timeout";
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == asio::error::eof) return "closed";
  return ec.message();
}

LogServer::LogServer(ServerAddress address)
    : address_(std::move(address)), pool_(pool_limits(address_.keepalive)) {}

asio::awaitable<LogServer::Opened> LogServer::open(net::Deadline& deadline) {
  auto ex = co_await asio::this_coro::executor;
  if (!resolver_) resolver_.emplace(ex);
  Opened out;
  std::string error;
  auto addresses = co_await resolver_->resolve(address_.host, error);
  if (addresses.empty()) {
    out.error = error.empty() ? "could not resolve " + address_.host : error;
    co_return out;
  }
  const tcp::endpoint endpoint(addresses.front(), address_.port);
  const std::string tls_key = address_.tls ? "log-tls:" + address_.sni : "";
  if (auto kept = pool_.take(endpoint, tls_key)) {
    out.connection = std::move(kept);
    out.fresh = false;
    co_return out;
  }
  auto connection = address_.tls
                        ? std::make_unique<net::UpstreamConnection>(ex, client_context(), nullptr, tls_key)
                        : std::make_unique<net::UpstreamConnection>(ex);
  connection->key = endpoint;
  deadline.arm(address_.timeout, connection->socket);
  auto [ec] = co_await connection->socket.async_connect(endpoint, kTuple);
  if (ec) {
    out.error = describe(ec, deadline);
    co_return out;
  }
  if (auto* tls = connection->stream.tls_stream()) {
    if (!address_.sni.empty()) SSL_set_tlsext_host_name(tls->native_handle(), address_.sni.c_str());
    deadline.arm(address_.timeout, connection->stream);
    auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::client, kTuple);
    if (hec) {
      out.error = describe(hec, deadline);
      out.handshake_failed = true;
      co_return out;
    }
  }
  deadline.disarm();
  out.connection = std::move(connection);
  co_return out;
}

void LogServer::keep(std::unique_ptr<net::UpstreamConnection> connection) {
  connection->idle_since = std::chrono::steady_clock::now();
  pool_.give_back(std::move(connection));
}

}  // namespace gh::logsink
