// Upgraded connections (WebSocket): which requests Kong forwards as an upgrade, what their
// upstream request head carries for it, and the tunnel that follows the upstream's 101.
// The upstream exchange (upstream_response.cpp) decides when; the bytes are moved by net::splice, the same
// loop as the stream proxy's. docs/websocket.md.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "core/request_context.h"
#include "http/headers.h"
#include "http/parser.h"
#include "net/byte_stream.h"
#include "net/splice.h"
#include "proxy/upstream_headers.h"

namespace gh::proxy {

// Kong's test (runloop/handler.lua): the client's Upgrade header is "websocket", in any case.
// Connection is not looked at; any other Upgrade (h2c, TLS/1.2, ...) is dropped as a hop-by-hop
// header and the request proxied as a plain one.
bool wants_websocket(const http::RequestHead& request);

// What the upstream request head of a WebSocket handshake carries instead of the client's
// Connection and Upgrade (Kong's $upstream_connection and $upstream_upgrade).
inline constexpr std::string_view kWebSocketRequestLines =
    "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n";

// The Upgrade and Connection lines of the 101 to the client: the upstream's Upgrade when it names
// what was asked for (Kong's header_filter drops any other), and nginx's `Connection: upgrade`.
void add_switching_protocols_headers(HeaderSink& sink, const http::Headers& upstream_headers);

// After the 101 went to the client: `client_bytes` (what the client sent after its request,
// before the 101) go upstream first, then bytes flow both ways until both sides closed, one
// failed, or a limit passed. They are counted in ctx.request_bytes / ctx.response_bytes; ctx.end
// is the tunnel's end.
boost::asio::awaitable<void> run_tunnel(net::ByteStream& client, net::ByteStream& upstream,
                                        std::string_view client_bytes, core::RequestContext& ctx,
                                        net::SpliceLimits limits);

}  // namespace gh::proxy
