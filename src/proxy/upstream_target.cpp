#include "proxy/upstream_target.h"

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
  if (ctx.upstream.scheme != "https" && ctx.upstream.scheme != "grpcs") return target;
  const auto& service = *ctx.match->service;
  target.tls = true;
  target.service_id = service.id;
  target.server_name = upstream_server_name(ctx);
  target.verify = ctx.upstream.tls_verify.value_or(service.tls_verify);
  target.tls_key = service.id + '|' + target.server_name + (target.verify ? "|verify" : "|no-verify");
  return target;
}

}  // namespace gh::proxy
