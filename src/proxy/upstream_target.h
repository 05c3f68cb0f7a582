// A request's side of talking to its upstream: what each try asks of the shared
// upstream::Connector (the target: host, port, timeout, TLS as the service and the plugins set
// it), the service's timeouts, why a try failed (for status codes, retries and the passive
// health checks), and the tries themselves (UpstreamTries), for every protocol the proxy speaks
// to its upstream.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

// The service's retries, unless a plugin changed them (kong.service.set_retries).
int upstream_retries(const RequestContext& ctx);

// A request's tries at its upstream: each goes to the balancer's next target when the host names
// an upstream, else to the service's host, at most retries + 1 of them (counted in ctx.tries).
// The balancer hears how each try went (its passive health checks), and is held until this ends.
// Connecting is the same for every protocol; what a protocol does once connected, and whether a
// failure then may be repeated, stays with its caller, which reports it here.
class UpstreamTries {
 public:
  // Selects the balancer (Set-Cookie for a new hash_on cookie in ctx.balancer_cookie) and starts
  // the upstream clock (ctx.upstream_start).
  UpstreamTries(upstream::Balancer& balancer, const upstream::HealthRegistry& upstreams, RequestContext& ctx);

  // Starts the next try with a pooled keep-alive connection when one waits for its target:
  // synchronous, as the common case of a proxied request needs no coroutine of its own. False
  // when none does: connect() then connects that try.
  bool take_pooled(upstream::Connector& connector, std::unique_ptr<net::UpstreamConnection>& conn);
  // A new connection for the next try (or for the one take_pooled() started), going on to the
  // next target after each failure within the retries. False when none could be made: the
  // client gets answer().
  boost::asio::awaitable<bool> connect(upstream::Connector& connector,
                                       std::unique_ptr<net::UpstreamConnection>& conn);

  // The current try failed after its connection stood: the balancer hears it, and `error` makes
  // the answer should no try follow.
  void failed(UpstreamError error);
  // The current try got a response head.
  void responded(int status);
  // The current try is not counted (a pooled connection that provably got nothing: `error` still
  // makes the answer should no try follow).
  void uncount(UpstreamError error);

  // What the client gets when the tries are over without a response: 503 when the balancer had
  // no target for the first try or the host did not resolve (as Kong), else 504 after a timeout
  // and 502 after anything else.
  struct Answer {
    int status;
    std::string_view message;
  };
  Answer answer() const;

 private:
  // Picks the next try's target and counts the try; false when the tries are over.
  bool start_try();

  RequestContext& ctx_;
  const int max_tries_;
  std::optional<upstream::Selection> balanced_;
  upstream::ConnectTarget target_;  // the current try's
  bool started_ = false;            // take_pooled() started a try that connect() goes on with
  bool over_ = false;               // the balancer has no target left
  bool no_peer_ = false;
  bool unresolved_ = false;
  UpstreamError last_error_ = UpstreamError::none;
};

}  // namespace gh::proxy
