// A request's side of talking to its upstream: what each try asks of the shared
// upstream::Connector (the target: host, port, timeout, TLS as the service and the plugins set
// it), the service's timeouts, and why a try failed (for status codes, retries and the passive
// health checks).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/request_context.h"
#include "upstream/balancer.h"
#include "upstream/connector.h"
#include "upstream/health.h"

namespace gh::proxy {

using core::RequestContext;

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

UpstreamError upstream_error(upstream::ConnectError error);

// What a failed try tells the upstream's passive health checks (Kong's timeouts / tcp_failures).
upstream::Result passive_result(UpstreamError error);

// The Service's timeouts, unless a plugin changed them for this request
// (kong.service.set_timeouts, as Kong's balancer_data).
std::chrono::milliseconds connect_timeout(const RequestContext& ctx);
std::chrono::milliseconds write_timeout(const RequestContext& ctx);
std::chrono::milliseconds read_timeout(const RequestContext& ctx);

// Where the next try goes: the balancer's next target when the host names an upstream, else the
// service's host and port. False when the balancer has no target left.
bool next_try_target(std::optional<upstream::Selection>& balanced, const RequestContext& ctx,
                     std::string& host, uint16_t& port);

// One try of `ctx` to `host`:`port` (the balancer's target, or the service's host).
upstream::ConnectTarget connect_target(const RequestContext& ctx, std::string host, uint16_t port);

}  // namespace gh::proxy
