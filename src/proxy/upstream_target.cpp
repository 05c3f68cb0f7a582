#include "proxy/upstream_target.h"

#include "common/strings.h"
#include "http/kong_responses.h"
#include "proxy/hash_inputs.h"
#include "proxy/upstream_headers.h"

namespace gh::proxy {

namespace {

// `protocol: https` services: the SNI and the name verified are the host the request goes to
// (the client's Host with preserve_host, else the service host).
std::string upstream_server_name(const RequestContext& ctx) {
  if (ctx.match->route->preserve_host && ctx.request)
    return host_without_port(ctx.request->headers.get("host").value_or(""));
  return ctx.upstream.host;
}

}  // namespace

UpstreamError upstream_error(upstream::ConnectError error) {
  switch (error) {
    case upstream::ConnectError::none:
      return UpstreamError::none;
    case upstream::ConnectError::resolve:
      return UpstreamError::resolve;
    case upstream::ConnectError::refused:
      return UpstreamError::connect_refused;
    case upstream::ConnectError::timed_out:
      return UpstreamError::connect_timeout;
  }
  return UpstreamError::connect_refused;
}

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

// TLS as the service's tls_verify unless a plugin called kong.service.set_tls_verify; the key
// ties a pooled TLS connection to the service, the name and the verification it was made for.
bool next_try_target(std::optional<upstream::Selection>& balanced, const RequestContext& ctx,
                     std::string& host, uint16_t& port) {
  if (!balanced) {
    host = ctx.upstream.host;
    port = ctx.upstream.port;
    return true;
  }
  upstream::TargetAddress target;
  if (!balanced->next(target)) return false;
  host = std::move(target.host);
  port = target.port;
  return true;
}

upstream::ConnectTarget connect_target(const RequestContext& ctx, std::string host, uint16_t port) {
  upstream::ConnectTarget target;
  target.host = std::move(host);
  target.port = port;
  target.attempt = static_cast<size_t>(ctx.tries);
  target.timeout = connect_timeout(ctx);
  target.http2 = ctx.upstream.scheme == "grpc" || ctx.upstream.scheme == "grpcs";
  const bool tls = ctx.upstream.scheme == "https" || ctx.upstream.scheme == "grpcs" ||
                   ctx.upstream.scheme == "tls";  // the stream proxy's TLS services
  if (!tls) return target;
  const auto& service = *ctx.match->service;
  target.tls = true;
  target.service_id = service.id;
  target.server_name = upstream_server_name(ctx);
  target.verify = ctx.upstream.tls_verify.value_or(service.tls_verify);
  target.tls_key = service.id + '|' + target.server_name + (target.verify ? "|verify" : "|no-verify");
  return target;
}

int upstream_retries(const RequestContext& ctx) {
  return ctx.upstream.retries.value_or(ctx.match->service->retries);
}

UpstreamTries::UpstreamTries(upstream::Balancer& balancer, const upstream::HealthRegistry& upstreams,
                             RequestContext& ctx)
    : ctx_(ctx),
      max_tries_(upstream_retries(ctx) + 1),
      balanced_(balancer.select(upstreams, ctx.upstream.host, RequestHashInputs(ctx))) {
  if (balanced_) ctx.balancer_cookie = balanced_->set_cookie_header();
  ctx.upstream_start = core::Clock::now();
}

bool UpstreamTries::start_try() {
  if (over_ || ctx_.tries >= max_tries_) return false;
  std::string host;
  uint16_t port = 0;
  if (!next_try_target(balanced_, ctx_, host, port)) {
    over_ = true;
    no_peer_ = ctx_.tries == 0;
    return false;
  }
  ctx_.tries++;
  target_ = connect_target(ctx_, std::move(host), port);
  return true;
}

bool UpstreamTries::take_pooled(upstream::Connector& connector,
                                std::unique_ptr<net::UpstreamConnection>& conn) {
  if (!start_try()) return false;
  last_error_ = UpstreamError::none;
  conn = connector.take_pooled(target_, ctx_.upstream_addr);
  started_ = !conn;
  return !started_;
}

boost::asio::awaitable<bool> UpstreamTries::connect(upstream::Connector& connector,
                                                    std::unique_ptr<net::UpstreamConnection>& conn) {
  while (started_ || start_try()) {
    started_ = false;
    last_error_ = upstream_error(co_await connector.connect(target_, ctx_.upstream_addr, conn));
    if (last_error_ == UpstreamError::none) co_return true;
    conn.reset();
    // A name that does not resolve is the service's, not a target's: no other try helps.
    if (last_error_ == UpstreamError::resolve) {
      unresolved_ = true;
      co_return false;
    }
    if (balanced_) balanced_->failed(passive_result(last_error_));
  }
  co_return false;
}

void UpstreamTries::failed(UpstreamError error) {
  last_error_ = error;
  if (balanced_) balanced_->failed(passive_result(error));
}

void UpstreamTries::responded(int status) {
  if (balanced_) balanced_->responded(status);
}

void UpstreamTries::uncount(UpstreamError error) {
  last_error_ = error;
  ctx_.tries--;
}

UpstreamTries::Answer UpstreamTries::answer() const {
  if (no_peer_) return {503, "failure to get a peer from the ring-balancer"};
  if (unresolved_) return {503, "name resolution failed"};
  const bool timed_out =
      last_error_ == UpstreamError::connect_timeout || last_error_ == UpstreamError::read_timeout;
  const int status = timed_out ? 504 : 502;
  return {status, http::kong_default_message(status)};
}

}  // namespace gh::proxy
