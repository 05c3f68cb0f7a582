// One request's exchange with its upstream: the body prepared (a plugin's, read whole, or
// streamed), the balancer's targets tried within the service's retries, the request sent, the
// answer read and relayed to the client (streamed, buffered for response-phase plugins, or a
// tunnel after a 101). Written against ClientSide, so every client transport proxies the same way.
// The request side is upstream_exchange.cpp, the answer side upstream_response.cpp.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/request_context.h"
#include "http/parser.h"
#include "net/buffer.h"
#include "net/deadline.h"
#include "net/upstream_pool.h"
#include "proxy/client_side.h"
#include "proxy/request_body.h"
#include "proxy/upstream_h2.h"
#include "proxy/upstream_target.h"
#include "proxy/worker.h"
#include "upstream/connector.h"

namespace gh::proxy {

class RequestRunloop;

class UpstreamExchange {
 public:
  UpstreamExchange(RequestRunloop& runloop, Worker& worker, net::Deadline& deadline);

  boost::asio::awaitable<Outcome> proxy(RequestContext& ctx);
  // The upstream's response headers when its response went out as it came (forward_response),
  // for the log phase; null otherwise. Valid until the next request.
  const http::Headers* streamed_response_headers() const {
    if (h2_used_) return &h2_->response_headers();
    return response_streamed_ ? &upstream_parser_.response().headers : nullptr;
  }
  void start_request() { response_streamed_ = h2_used_ = false; }

 private:
  // --- Sending the request (upstream_exchange.cpp) ---
  void serialize_upstream_head(const RequestContext& ctx, bool chunked, size_t content_length);
  // `sent`: the body bytes already forwarded with the head (they count towards client_max_body_size).
  boost::asio::awaitable<UpstreamError> stream_rest_of_body(net::UpstreamConnection& conn,
                                                            RequestContext& ctx, bool chunked, uint64_t sent);
  boost::asio::awaitable<bool> send_spooled_body(net::UpstreamConnection& conn, RequestContext& ctx,
                                                 const SpooledBody& body);
  // Moves whatever body bytes already arrived into `body`. True when the whole body is there.
  bool collect_available_body(std::string& body);

  // --- Reading and relaying the answer (upstream_response.cpp) ---
  boost::asio::awaitable<UpstreamError> read_response_head(net::UpstreamConnection& conn, RequestContext& ctx,
                                                           bool head_request);
  // One step of reading the upstream response body (the loop of forward_response and buffer_response).
  enum class BodyPart { more, last, last_at_eof, malformed, failed };
  struct BodyRead {
    BodyPart part;
    std::span<const std::string_view> pieces;  // the new body bytes (none for last_at_eof)
    boost::system::error_code error;           // failed: why (deadline_.expired(): a timeout)
  };
  boost::asio::awaitable<BodyRead> next_upstream_body_part(net::UpstreamConnection& conn,
                                                           const RequestContext& ctx);
  boost::asio::awaitable<Outcome> forward_response(std::unique_ptr<net::UpstreamConnection> conn,
                                                   RequestContext& ctx);
  boost::asio::awaitable<Outcome> buffer_response(std::unique_ptr<net::UpstreamConnection> conn,
                                                  RequestContext& ctx);
  boost::asio::awaitable<Outcome> refuse_large_response(RequestContext& ctx, uint64_t max_size);
  boost::asio::awaitable<Outcome> switch_protocols(std::unique_ptr<net::UpstreamConnection> conn,
                                                   RequestContext& ctx);
  // The response head as the upstream sent it, with what plugins set and the gateway's headers.
  HeaderSink& start_proxied_head(const RequestContext& ctx, const http::ResponseHead& resp);

  RequestRunloop& runloop_;
  ClientSide& client_;
  Worker& worker_;
  net::Deadline& deadline_;
  upstream::Connector connector_;
  // One response parser per exchange, restarted per response: its buffers keep their capacity.
  http::Parser upstream_parser_;
  net::Buffer upstream_in_;
  std::string head_out_;  // the upstream request head
  std::vector<boost::asio::const_buffer> out_;
  std::vector<std::string_view> pieces_;    // client body pieces (reused)
  std::deque<std::string> chunk_prefixes_;  // deque: growing it never moves the strings out_ points at
  // This request's response went out as it came (forward_response): its headers are those of
  // upstream_parser_ until the next request, for the log phase.
  bool response_streamed_ = false;
  // grpc/grpcs services: HTTP/2 to the upstream (made on first use), used by this request.
  std::unique_ptr<UpstreamH2> h2_;
  bool h2_used_ = false;
};

}  // namespace gh::proxy
