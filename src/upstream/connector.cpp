#include "upstream/connector.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "common/strings.h"

namespace gh::upstream {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// "ip:port", as logs and kong.log.serialize show the upstream.
std::string endpoint_text(const tcp::endpoint& endpoint) {
  std::string out = endpoint.address().to_string();
  out += ':';
  append_decimal(out, endpoint.port());
  return out;
}

// Whether the server chose the ALPN "h2" the handshake offered (an HTTP/2 upstream that did not
// cannot be spoken to; logged).
bool negotiated_h2(net::UpstreamConnection& conn) {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(conn.stream.tls_stream()->native_handle(), &protocol, &length);
  if (std::string_view(reinterpret_cast<const char*>(protocol), length) == "h2") return true;
  spdlog::error("upstream {} did not negotiate HTTP/2 (ALPN h2) for a grpcs service", conn.address_text);
  return false;
}

}  // namespace

std::unique_ptr<net::UpstreamConnection> Connector::take_pooled(const ConnectTarget& target,
                                                                std::string& address) {
  if (!resources_.pool || target.http2) return nullptr;
  const auto* known = resources_.resolver.cached(target.host);
  return known ? take_pooled(target, *known, address) : nullptr;
}

std::unique_ptr<net::UpstreamConnection> Connector::take_pooled(
    const ConnectTarget& target, const std::vector<asio::ip::address>& addresses, std::string& address) {
  if (!resources_.pool || target.http2) return nullptr;
  for (const auto& candidate : addresses) {
    if (auto pooled = resources_.pool->take(tcp::endpoint(candidate, target.port), target.tls_key)) {
      address = pooled->address_text;
      return pooled;
    }
  }
  return nullptr;
}

asio::awaitable<ConnectError> Connector::connect(const ConnectTarget& target, std::string& address,
                                                 std::unique_ptr<net::UpstreamConnection>& out) {
  const std::vector<asio::ip::address>* addresses = resources_.resolver.cached(target.host);
  std::vector<asio::ip::address> looked_up;
  if (!addresses) {
    std::string error;
    looked_up = co_await resources_.resolver.resolve(target.host, error);
    if (looked_up.empty()) {
      spdlog::error("upstream name resolution failed for '{}': {}", target.host, error);
      co_return ConnectError::resolve;
    }
    addresses = &looked_up;
  }
  if ((out = take_pooled(target, *addresses, address))) co_return ConnectError::none;
  auto conn = new_connection(target);
  tcp::endpoint endpoint((*addresses)[target.attempt % addresses->size()], target.port);
  conn->key = endpoint;
  conn->address_text = endpoint_text(endpoint);
  address = conn->address_text;
  conn->socket.open(endpoint.protocol());
  deadline_.arm(target.timeout, conn->socket);
  auto [ec] = co_await conn->socket.async_connect(endpoint, use_tuple);
  deadline_.disarm();
  if (ec) {
    const bool timed_out = deadline_.expired();
    spdlog::error("connect() to {} failed: {} while connecting to upstream", address,
                  timed_out ? "timed out" : ec.message());
    co_return timed_out ? ConnectError::timed_out : ConnectError::refused;
  }
  boost::system::error_code ignored;
  conn->socket.set_option(tcp::no_delay(true), ignored);
  if (conn->stream.is_tls()) {  // not `is_tls() && co_await ...`: GCC 12 miscompiles co_await in &&
    const bool secured = co_await handshake(target, *conn);
    if (!secured) co_return ConnectError::refused;
  }
  out = std::move(conn);
  co_return ConnectError::none;
}

std::unique_ptr<net::UpstreamConnection> Connector::new_connection(const ConnectTarget& target) {
  if (target.tls && resources_.tls_contexts) {
    auto contexts = resources_.tls_contexts();
    if (auto* context = contexts ? contexts->context(target.service_id) : nullptr)
      return std::make_unique<net::UpstreamConnection>(resources_.executor, *context, std::move(contexts),
                                                       target.tls_key);
  }
  return std::make_unique<net::UpstreamConnection>(resources_.executor);
}

asio::awaitable<bool> Connector::handshake(const ConnectTarget& target, net::UpstreamConnection& conn) {
  auto* ssl = conn.stream.tls_stream();
  tls::UpstreamTls::prepare(ssl->native_handle(), target.server_name, target.verify);
  if (target.http2) {  // RFC 9113 §3.2: HTTP/2 over TLS is negotiated with ALPN "h2"
    static constexpr unsigned char kH2[] = {2, 'h', '2'};
    SSL_set_alpn_protos(ssl->native_handle(), kH2, sizeof kH2);
  }
  deadline_.arm(target.timeout, conn.socket);
  auto [ec] = co_await ssl->async_handshake(asio::ssl::stream_base::client, use_tuple);
  deadline_.disarm();
  if (!ec) co_return !target.http2 || negotiated_h2(conn);
  const auto why = tls::UpstreamTls::verify_error(ssl->native_handle());
  spdlog::error("TLS handshake with upstream {} failed: {}", conn.address_text,
                deadline_.expired() ? "timed out"
                : why.empty()       ? ec.message()
                                    : "certificate verify error: " + why);
  co_return false;
}

}  // namespace gh::upstream
