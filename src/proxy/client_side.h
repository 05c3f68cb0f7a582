// The client half of one request, whatever carries it: an HTTP/1.1 connection
// (http1_connection.h) or an HTTP/2 stream. The request runloop (request_runloop.h) and the
// upstream exchange (upstream_exchange.h) are written once against this interface, so every
// transport runs the same lifecycle, phases and plugins. A transport only frames bytes: where
// the request body comes from and how the response head and body go out.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/request_context.h"
#include "net/byte_stream.h"
#include "net/splice.h"
#include "proxy/upstream_headers.h"

namespace gh::proxy {

using core::RequestContext;

// How a request ended for its transport: ready for the next one (HTTP/2: the stream ended
// cleanly), or the connection must close (HTTP/2: the stream is reset).
enum class Outcome { keep_alive, close };

// The request body bytes a transport had at hand when asked.
enum class BodyFeed { need_more, complete, malformed };

// What the runloop decided about a response's framing; the transport turns it into its own
// (Content-Length / chunked / Connection: close for HTTP/1.1, END_STREAM for HTTP/2).
struct ResponseFraming {
  bool no_body = false;                    // HEAD, 1xx, 204, 304: no body bytes follow
  std::optional<uint64_t> content_length;  // the length to announce (a HEAD response's too)
  bool keep_alive = true;                  // false: the gateway wants no further request after this one
  bool upgrade = false;                    // a 101: the connection becomes a tunnel, no framing at all
};

// nginx's client timeouts, the same for every transport.
inline constexpr std::chrono::seconds kClientBodyTimeout{60};  // nginx client_body_timeout
inline constexpr std::chrono::seconds kSendTimeout{60};        // nginx send_timeout

class ClientSide {
 public:
  // --- The request body ---
  virtual bool body_done() const = 0;       // every body byte arrived (or there is no body)
  virtual bool body_malformed() const = 0;  // the body broke its framing (400)
  virtual std::string body_error() const = 0;
  // Appends the body bytes already received, without waiting, as views valid until the next
  // receive_body() call.
  virtual BodyFeed take_body(std::vector<std::string_view>& pieces) = 0;
  // Waits (client_body_timeout) for more body bytes, adding their count to `received`.
  // False: the client went away or timed out.
  virtual boost::asio::awaitable<bool> receive_body(uint64_t& received) = 0;
  // Expect: 100-continue: the go-ahead, sent once, right before the body is first read.
  virtual boost::asio::awaitable<bool> send_continue_if_expected() = 0;

  // --- The response ---
  // A response head is built in order: start_response, its headers on the returned sink,
  // frame_response (the transport's framing headers), the gateway's own headers on the same sink,
  // then send_head with the first body bytes at hand (possibly none) and send_body for the rest.
  // The sink is valid until send_head.
  virtual HeaderSink& start_response(int status, std::string_view reason) = 0;
  virtual void frame_response(const ResponseFraming& framing) = 0;
  // `last`: `body` ends the response. False when the client cannot be written to.
  virtual boost::asio::awaitable<bool> send_head(std::vector<boost::asio::const_buffer>& body, bool last,
                                                 RequestContext& ctx) = 0;
  virtual boost::asio::awaitable<bool> send_body(std::vector<boost::asio::const_buffer>& body, bool last,
                                                 RequestContext& ctx) = 0;
  // What the response that went out leaves the transport with (HTTP/1.1: keep-alive or not).
  virtual Outcome response_outcome() const = 0;
  // Trailer fields (lower-case names) to end the response with, given before the send_head or
  // send_body call with `last`. HTTP/2: a HEADERS frame after the last DATA. A transport without
  // trailers (HTTP/1.1: nginx never relays upstream trailers to it either) drops them.
  virtual void set_trailers(std::vector<std::pair<std::string, std::string>> fields) { (void)fields; }

  // --- Both directions at once (gRPC streaming, upstream_h2.h) ---
  // Whether receive_body may wait while send_head/send_body run in another coroutine of the same
  // request (HTTP/2 streams: yes; HTTP/1.1: one operation at a time).
  virtual bool full_duplex() const { return false; }
  // Whether the client can still be answered (false: an HTTP/2 stream the client reset).
  virtual bool alive() const { return true; }
  // Ends a pending or later receive_body wait at once (it returns false): the exchange is over.
  virtual void stop_receiving() {}

  // --- Upgrades (WebSocket) ---
  // Whether an Upgrade request can become a tunnel (HTTP/1.1; HTTP/2 forbids Upgrade).
  virtual bool supports_upgrade() const = 0;
  // After the 101 went out (send_head): the client's connection and `upstream` are one tunnel
  // until it ends; what the client sent after its request goes upstream first.
  virtual boost::asio::awaitable<void> tunnel(net::ByteStream& upstream, RequestContext& ctx,
                                              net::SpliceLimits limits) = 0;

 protected:
  ~ClientSide() = default;
};

}  // namespace gh::proxy
