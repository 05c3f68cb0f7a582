// HTTP/2 to the upstream, for services with protocol `grpc` (cleartext, prior knowledge) and
// `grpcs` (TLS, ALPN h2), as nginx's grpc_pass under Kong: one new connection per request (not
// pooled, no multiplexing of several requests on one connection yet), one stream on it. The
// request body and the response stream at the same time in both directions (gRPC client, server
// and bidirectional streaming): nothing is held whole, the upstream's bytes are bounded by the
// windows announced here and the client's by its own transport. Trailers (grpc-status,
// grpc-message) are passed to the client; grpc-timeout bounds the wait (docs/grpc.md).
//
// Four coroutines share one call: the request's (relaying the response, the owner of everything),
// a reader feeding nghttp2 from the socket, a writer sending what nghttp2 produces, and a pump
// moving request body bytes from the client. All on the worker's thread, nghttp2 entered from one
// place at a time; the owner ends the others (socket closed, waits woken) before it returns.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/request_context.h"
#include "http/headers.h"
#include "proxy/client_side.h"
#include "proxy/upstream_target.h"
#include "proxy/worker.h"
#include "upstream/connector.h"

namespace gh::proxy {

class RequestRunloop;

// Services whose upstream speaks HTTP/2 (UpstreamExchange hands their requests to UpstreamH2).
inline bool is_h2_upstream(std::string_view scheme) {
  return scheme == "grpc" || scheme == "grpcs";
}

// A grpc-timeout header's value (gRPC over HTTP/2: up to 8 digits and a unit H M S m u n).
std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value);

// Bounds of one upstream HTTP/2 call.
struct UpstreamH2Limits {
  int32_t stream_window = 256 * 1024;       // response bytes the upstream may send ahead of the client
  int32_t connection_window = 1024 * 1024;  // the same for the connection
  uint32_t max_header_list = 32 * 1024;     // the response head, and the trailers, each
  size_t request_buffer = 64 * 1024;        // request body bytes queued for the upstream's window
};

class UpstreamH2 {
 public:
  UpstreamH2(RequestRunloop& runloop, Worker& worker, upstream::Connector& connector);
  ~UpstreamH2();
  UpstreamH2(const UpstreamH2&) = delete;
  UpstreamH2& operator=(const UpstreamH2&) = delete;

  boost::asio::awaitable<Outcome> proxy(RequestContext& ctx);
  // The upstream's response headers of the last request (for the log phase).
  const http::Headers& response_headers() const { return response_headers_; }

 private:
  struct Call;
  // What ended a wait for the upstream.
  enum class Woke { event, read_timeout, deadline, client_gone };
  boost::asio::awaitable<Outcome> exchange(Call& call, RequestContext& ctx);
  boost::asio::awaitable<Outcome> relay_response(Call& call, RequestContext& ctx);
  bool submit_request(Call& call, RequestContext& ctx);
  boost::asio::awaitable<Woke> wait_upstream(Call& call, RequestContext& ctx);
  boost::asio::awaitable<void> finish(Call& call);

  RequestRunloop& runloop_;
  ClientSide& client_;
  Worker& worker_;
  upstream::Connector& connector_;
  UpstreamH2Limits limits_;
  http::Headers response_headers_;
};

}  // namespace gh::proxy
