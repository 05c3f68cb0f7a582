// A connection to the upstream a request goes to: a pooled keep-alive one when there is one,
// else resolved, connected and (protocol: https) TLS-handshaked within the service's
// connect_timeout.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/request_context.h"
#include "net/deadline.h"
#include "net/upstream_pool.h"
#include "proxy/worker.h"
#include "upstream/health.h"

namespace gh::proxy {

// Why talking to the upstream failed, for status codes and retries.
enum class UpstreamError {
  none,
  connect_refused,
  connect_timeout,
  resolve,
  write,
  read_timeout,
  bad_response,
  closed_early,     // the upstream: closed before any response byte; stream_rest_of_body: the client
  body_too_large,   // the client's (chunked) body went over client_max_body_size: 413
  bad_request_body  // the client's body broke its framing while streamed: 400
};

// What a failed try tells the upstream's passive health checks (Kong's timeouts / tcp_failures).
upstream::Result passive_result(UpstreamError error);

// The Service's timeouts, unless a plugin changed them for this request
// (kong.service.set_timeouts, as Kong's balancer_data).
std::chrono::milliseconds connect_timeout(const RequestContext& ctx);
std::chrono::milliseconds write_timeout(const RequestContext& ctx);
std::chrono::milliseconds read_timeout(const RequestContext& ctx);

class UpstreamConnector {
 public:
  UpstreamConnector(Worker& worker, net::Deadline& deadline) : worker_(worker), deadline_(deadline) {}

  // A pooled keep-alive connection to any of `addresses` (first address first), or null.
  std::unique_ptr<net::UpstreamConnection> take_pooled(RequestContext& ctx,
                                                       const std::vector<boost::asio::ip::address>& addresses,
                                                       uint16_t port);
  // Resolves `host`, then a pooled connection or a new one (ctx.tries picks the address).
  boost::asio::awaitable<UpstreamError> connect(RequestContext& ctx, const std::string& host, uint16_t port,
                                                std::unique_ptr<net::UpstreamConnection>& out);

 private:
  // TLS to upstreams (protocol: https).
  std::string upstream_tls_key(const RequestContext& ctx) const;
  std::string upstream_server_name(const RequestContext& ctx) const;
  std::unique_ptr<net::UpstreamConnection> new_upstream_connection(const RequestContext& ctx);
  boost::asio::awaitable<bool> upstream_handshake(RequestContext& ctx, net::UpstreamConnection& conn);

  Worker& worker_;
  net::Deadline& deadline_;
};

}  // namespace gh::proxy
