#include "proxy/tunnel.h"

#include "common/log.h"
#include "common/strings.h"

namespace gh::proxy {

bool wants_websocket(const http::RequestHead& request) {
  const auto upgrade = request.headers.get("upgrade");
  return upgrade && iequals(*upgrade, "websocket");
}

void add_switching_protocols_headers(HeaderSink& sink, const http::Headers& upstream_headers) {
  const auto upgrade = upstream_headers.get("upgrade");
  if (upgrade && iequals(*upgrade, "websocket")) sink.add("Upgrade", *upgrade);
  sink.add("Connection", "upgrade");
}

boost::asio::awaitable<void> run_tunnel(net::ByteStream& client, net::ByteStream& upstream,
                                        std::string_view client_bytes, core::RequestContext& ctx,
                                        net::SpliceLimits limits) {
  const auto result = co_await net::splice(client, upstream, limits, client_bytes);
  ctx.request_bytes += result.a_to_b;
  ctx.response_bytes += result.b_to_a;
  ctx.end = core::Clock::now();
  // nginx logs an upgraded connection's timeout as an error ("upstream timed out"); a close by
  // either side is the normal end.
  if (result.end == net::SpliceResult::End::closed) {
    spdlog::debug("upgraded connection {}:{} <-> {} ended: {}", ctx.remote_ip, ctx.remote_port,
                  ctx.upstream_addr, net::splice_end_name(result.end));
  } else {
    spdlog::info("upgraded connection {}:{} <-> {} ended: {} ({} bytes up, {} down)", ctx.remote_ip,
                 ctx.remote_port, ctx.upstream_addr, net::splice_end_name(result.end), result.a_to_b,
                 result.b_to_a);
  }
}

}  // namespace gh::proxy
