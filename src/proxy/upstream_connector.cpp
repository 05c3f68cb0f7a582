#include "proxy/upstream_connector.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "common/strings.h"
#include "proxy/upstream_headers.h"
#include "tls/upstream_tls.h"

namespace gh::proxy {

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

}  // namespace

upstream::Result passive_result(UpstreamError error) {
  const bool timed_out = error == UpstreamError::connect_timeout || error == UpstreamError::read_timeout;
  return timed_out ? upstream::Result::timeout : upstream::Result::tcp_failure;
}

std::chrono::milliseconds connect_timeout(const RequestContext& ctx) {
  return std::chrono::milliseconds(
      ctx.upstream.connect_timeout_ms.value_or(ctx.match->service->connect_timeout_ms));
}

std::chrono::milliseconds write_timeout(const RequestContext& ctx) {
  return std::chrono::milliseconds(
      ctx.upstream.write_timeout_ms.value_or(ctx.match->service->write_timeout_ms));
}

std::chrono::milliseconds read_timeout(const RequestContext& ctx) {
  return std::chrono::milliseconds(
      ctx.upstream.read_timeout_ms.value_or(ctx.match->service->read_timeout_ms));
}

std::unique_ptr<net::UpstreamConnection> UpstreamConnector::take_pooled(
    RequestContext& ctx, const std::vector<asio::ip::address>& addresses, uint16_t port) {
  for (const auto& address : addresses) {
    tcp::endpoint key(address, port);
    if (auto pooled = worker_.pool().take(key, upstream_tls_key(ctx))) {
      ctx.upstream_addr = pooled->address_text;
      return pooled;
    }
  }
  return nullptr;
}

asio::awaitable<UpstreamError> UpstreamConnector::connect(RequestContext& ctx, const std::string& host,
                                                          uint16_t port,
                                                          std::unique_ptr<net::UpstreamConnection>& out) {
  const std::vector<asio::ip::address>* addresses = worker_.resolver().cached(host);
  std::vector<asio::ip::address> looked_up;
  if (!addresses) {
    std::string error;
    looked_up = co_await worker_.resolver().resolve(host, error);
    if (looked_up.empty()) {
      spdlog::error("upstream name resolution failed for '{}': {}", host, error);
      co_return UpstreamError::resolve;
    }
    addresses = &looked_up;
  }
  if ((out = take_pooled(ctx, *addresses, port))) co_return UpstreamError::none;
  auto conn = new_upstream_connection(ctx);
  const auto& address = (*addresses)[static_cast<size_t>(ctx.tries) % addresses->size()];
  tcp::endpoint endpoint(address, port);
  conn->key = endpoint;
  conn->address_text = endpoint_text(endpoint);
  ctx.upstream_addr = conn->address_text;
  conn->socket.open(endpoint.protocol());
  deadline_.arm(connect_timeout(ctx), conn->socket);
  auto [ec] = co_await conn->socket.async_connect(endpoint, use_tuple);
  deadline_.disarm();
  if (ec) {
    bool timed_out = deadline_.expired();
    spdlog::error("connect() to {} failed: {} while connecting to upstream", ctx.upstream_addr,
                  timed_out ? "timed out" : ec.message());
    co_return timed_out ? UpstreamError::connect_timeout : UpstreamError::connect_refused;
  }
  boost::system::error_code ignored;
  conn->socket.set_option(tcp::no_delay(true), ignored);
  if (conn->stream.is_tls()) {  // not `is_tls() && co_await ...`: GCC 12 miscompiles co_await in &&
    const bool secured = co_await upstream_handshake(ctx, *conn);
    if (!secured) co_return UpstreamError::connect_refused;
  }
  out = std::move(conn);
  co_return UpstreamError::none;
}

// `protocol: https` services: the SNI and the name verified are the host the request goes to
// (the client's Host with preserve_host, else the service host); verification as the service's
// tls_verify unless a plugin called kong.service.set_tls_verify. "" for plain HTTP.
std::string UpstreamConnector::upstream_tls_key(const RequestContext& ctx) const {
  if (ctx.upstream.scheme != "https") return {};
  const auto& service = *ctx.match->service;
  bool verify = ctx.upstream.tls_verify.value_or(service.tls_verify);
  return service.id + '|' + upstream_server_name(ctx) + (verify ? "|verify" : "|no-verify");
}

std::string UpstreamConnector::upstream_server_name(const RequestContext& ctx) const {
  if (ctx.match->route->preserve_host && ctx.request)
    return host_without_port(ctx.request->headers.get("host").value_or(""));
  return ctx.upstream.host;
}

std::unique_ptr<net::UpstreamConnection> UpstreamConnector::new_upstream_connection(
    const RequestContext& ctx) {
  const asio::any_io_executor executor = worker_.io().get_executor();
  if (ctx.upstream.scheme == "https") {
    auto tls = worker_.upstream_tls();
    if (auto* context = tls->context(ctx.match->service->id))
      return std::make_unique<net::UpstreamConnection>(executor, *context, tls, upstream_tls_key(ctx));
  }
  return std::make_unique<net::UpstreamConnection>(executor);
}

asio::awaitable<bool> UpstreamConnector::upstream_handshake(RequestContext& ctx,
                                                            net::UpstreamConnection& conn) {
  const auto& service = *ctx.match->service;
  auto* ssl = conn.stream.tls_stream();
  tls::UpstreamTls::prepare(ssl->native_handle(), upstream_server_name(ctx),
                            ctx.upstream.tls_verify.value_or(service.tls_verify));
  deadline_.arm(connect_timeout(ctx), conn.socket);
  auto [ec] = co_await ssl->async_handshake(asio::ssl::stream_base::client, use_tuple);
  deadline_.disarm();
  if (!ec) co_return true;
  auto why = tls::UpstreamTls::verify_error(ssl->native_handle());
  spdlog::error("TLS handshake with upstream {} failed: {}", ctx.upstream_addr,
                deadline_.expired() ? "timed out"
                : why.empty()       ? ec.message()
                                    : "certificate verify error: " + why);
  co_return false;
}

}  // namespace gh::proxy
