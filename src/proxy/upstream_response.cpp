// The answer side of UpstreamExchange: the upstream's response head and body read within the
// service's read_timeout and relayed to the client as they come, whole for response-phase
// plugins, or as a tunnel after a 101.
#include <utility>

#include "common/log.h"
#include "common/strings.h"
#include "http/kong_responses.h"
#include "net/timed_read.h"
#include "proxy/request_runloop.h"
#include "proxy/tunnel.h"
#include "proxy/upstream_exchange.h"
#include "proxy/upstream_headers.h"

namespace gh::proxy {

namespace asio = boost::asio;

// Reads the upstream's final response head into upstream_parser_, skipping 1xx interim responses
// (the body bytes that came with it stay in upstream_in_). A connection that ends before any
// response byte is closed_early (nginx: "upstream prematurely closed connection").
asio::awaitable<UpstreamError> UpstreamExchange::read_response_head(net::UpstreamConnection& conn,
                                                                    RequestContext& ctx, bool head_request) {
  http::Parser& parser = upstream_parser_;
  parser.restart();
  parser.expect_no_body(head_request);
  upstream_in_.clear();
  bool received_any = false;
  while (true) {
    if (!upstream_in_.empty()) {
      size_t consumed = 0;
      const auto status = parser.feed(upstream_in_.readable(), consumed);
      upstream_in_.consume(consumed);
      if (status == http::Parser::Status::error) {
        spdlog::error("upstream {} sent an invalid response head: {}", ctx.upstream_addr,
                      parser.error_reason());
        co_return UpstreamError::bad_response;
      }
      if (parser.headers_done()) {
        const int code = parser.response().status;
        if (code < 100 || code >= 200 || code == 101) co_return UpstreamError::none;
        // Interim response: finish it, then wait for the final one.
        parser.feed(upstream_in_.readable(), consumed);
        upstream_in_.consume(consumed);
        parser.reset();
        parser.expect_no_body(head_request);
        continue;
      }
    }
    const auto read =
        co_await net::read_within(deadline_, read_timeout(ctx), conn.stream, upstream_in_, 4096);
    if (read.error) {
      if (deadline_.expired()) {
        spdlog::error("upstream {} timed out while reading the response head", ctx.upstream_addr);
        co_return UpstreamError::read_timeout;
      }
      const bool nothing_received = !received_any;
      spdlog::error("upstream {} {} while reading the response head", ctx.upstream_addr,
                    nothing_received ? "prematurely closed the connection" : read.error.message());
      co_return nothing_received ? UpstreamError::closed_early : UpstreamError::bad_response;
    }
    if (ctx.upstream_first_byte == Clock::time_point{}) ctx.upstream_first_byte = Clock::now();
    received_any = true;
  }
}

// The next part of the upstream response body, for forward_response and buffer_response: the
// bytes already buffered, else what the next read brings within the read timeout. Its pieces are
// views into upstream_in_, valid until the next call.
asio::awaitable<UpstreamExchange::BodyRead> UpstreamExchange::next_upstream_body_part(
    net::UpstreamConnection& conn, const RequestContext& ctx) {
  http::Parser& parser = upstream_parser_;
  if (upstream_in_.empty()) {
    const auto read =
        co_await net::read_within(deadline_, read_timeout(ctx), conn.stream, upstream_in_, 16 * 1024);
    if (read.error) {
      // A body delimited by the connection's end; otherwise deadline_.expired() tells a timeout.
      if (read.error == asio::error::eof && parser.needs_eof() &&
          parser.finish() == http::Parser::Status::message_complete)
        co_return BodyRead{BodyPart::last_at_eof, {}, {}};
      co_return BodyRead{BodyPart::failed, {}, read.error};
    }
  }
  size_t consumed = 0;
  auto status = parser.feed(upstream_in_.readable(), consumed);
  upstream_in_.consume(consumed);  // the body views stay valid: consume() never moves bytes
  if (status == http::Parser::Status::error) {
    spdlog::error("upstream {} sent an invalid response body: {}", ctx.upstream_addr, parser.error_reason());
    co_return BodyRead{BodyPart::malformed, {}, {}};
  }
  const auto part = status == http::Parser::Status::message_complete ? BodyPart::last : BodyPart::more;
  co_return BodyRead{part, parser.body(), {}};
}

// The client's response head as the upstream's: its status and headers (hop-by-hop ones left
// out, those plugins set with kong.response.* before it answered replacing the upstream's).
HeaderSink& UpstreamExchange::start_proxied_head(const RequestContext& ctx, const http::ResponseHead& resp) {
  HeaderSink& sink = client_.start_response(
      resp.status, resp.reason.empty() ? http::reason_phrase(resp.status) : std::string_view(resp.reason));
  add_proxied_headers(sink, resp.headers, ctx.response.headers);
  return sink;
}

asio::awaitable<Outcome> UpstreamExchange::forward_response(std::unique_ptr<net::UpstreamConnection> conn,
                                                            RequestContext& ctx) {
  const auto& req = *ctx.request;
  auto& resp = upstream_parser_.response();
  ctx.upstream_status = resp.status;
  ctx.response.status = resp.status;
  response_streamed_ = true;
  const bool websocket = runloop_.state().websocket;

  const bool no_body = req.method == "HEAD" || status_has_no_body(resp.status);
  // A plugin keeping a copy of the response (proxy-cache) sees the head before it is written.
  auto tap = std::move(ctx.response_tap);
  if (tap && !tap->head(ctx, resp.status, resp.headers)) tap.reset();
  const bool known_length = resp.content_length.has_value();
  ResponseFraming framing;
  framing.no_body = no_body;
  if (known_length && (!no_body || req.method == "HEAD")) framing.content_length = resp.content_length;
  // An HTTP/1.0 client learns where a body of unknown length ends only from the connection's end.
  framing.keep_alive = !worker_.host().draining() && !websocket && (known_length || req.version_minor >= 1);

  HeaderSink& sink = start_proxied_head(ctx, resp);
  client_.frame_response(framing);
  runloop_.add_gateway_headers(sink, ctx);

  // Body: the head goes out with the body bytes that came with it (alone when there are none yet),
  // then each part as it arrives.
  bool upstream_reusable = true;
  bool head_sent = false;
  out_.clear();
  // The copy is complete (and stored) before the client has the last byte, as in Kong's body
  // filter: a client that asks again, or an admin request, at once finds it.
  if (no_body && tap) std::exchange(tap, nullptr)->end(ctx);
  if (no_body || upstream_in_.empty()) {
    const bool written = co_await client_.send_head(out_, no_body, ctx);
    if (!written) co_return Outcome::close;
    head_sent = true;
  }
  bool done = no_body;
  while (!done) {
    const auto read = co_await next_upstream_body_part(*conn, ctx);
    if (read.part == BodyPart::malformed) {
      // The upstream connection is dropped (never pooled). While no byte went to the client, it
      // can still get a proper 502; after that, cutting its connection is all there is.
      if (ctx.response_bytes == 0)
        co_return co_await runloop_.respond(ctx, 502, http::kong_default_message(502));
      co_return Outcome::close;
    }
    if (read.part == BodyPart::failed) {
      spdlog::error("upstream {} failed while sending the response body: {}", ctx.upstream_addr,
                    deadline_.expired() ? "timed out" : read.error.message());
      co_return Outcome::close;  // the head is gone already: all we can do is cut the connection
    }
    done = read.part != BodyPart::more;
    if (read.part == BodyPart::last_at_eof) upstream_reusable = false;
    out_.clear();
    for (auto piece : read.pieces) {
      if (tap && !tap->body(piece)) tap.reset();
      if (!piece.empty()) out_.emplace_back(asio::buffer(piece));
    }
    if (done && tap) std::exchange(tap, nullptr)->end(ctx);
    bool written = false;  // an if, not ?:, around the co_await (tests/lint/check_coroutines.py)
    if (head_sent)
      written = co_await client_.send_body(out_, done, ctx);
    else
      written = co_await client_.send_head(out_, done, ctx);
    if (!written) co_return Outcome::close;
    head_sent = true;
  }
  ctx.end = Clock::now();
  // An upstream that refused an upgrade may still take what follows for the new protocol: never reused.
  if (upstream_reusable && resp.keep_alive && upstream_in_.empty() && !websocket)
    worker_.pool().give_back(std::move(conn));
  co_return client_.response_outcome();
}

// The upstream's 101. To a WebSocket handshake: passed to the client (headers as forward_response
// writes them, with Kong's Upgrade and Connection), then the two connections are one tunnel until
// it ends; neither is used for HTTP again. To any other request (Kong never forwarded its Upgrade)
// it is an invalid answer: 502.
asio::awaitable<Outcome> UpstreamExchange::switch_protocols(std::unique_ptr<net::UpstreamConnection> conn,
                                                            RequestContext& ctx) {
  const auto& resp = upstream_parser_.response();
  ctx.upstream_status = resp.status;
  if (!runloop_.state().websocket) {
    spdlog::error("upstream {} sent 101 Switching Protocols to a request without an upgrade",
                  ctx.upstream_addr);
    co_return co_await runloop_.respond(ctx, 502, http::kong_default_message(502));
  }
  // Every byte of the request (body included) went upstream before its answer was read: what the
  // client sent after it belongs to the tunnel.
  ctx.response.status = resp.status;
  response_streamed_ = true;
  HeaderSink& sink = start_proxied_head(ctx, resp);
  add_switching_protocols_headers(sink, resp.headers);
  ResponseFraming framing;
  framing.no_body = true;
  framing.upgrade = true;
  client_.frame_response(framing);
  runloop_.add_gateway_headers(sink, ctx);
  out_.clear();
  if (!upstream_in_.empty()) out_.emplace_back(asio::buffer(upstream_in_.readable()));  // its first frames
  const bool written = co_await client_.send_head(out_, false, ctx);
  if (!written) co_return Outcome::close;
  // The exchange's buffers are not needed again: a long-lived tunnel keeps only its own.
  upstream_in_ = net::Buffer(0);
  // nginx: proxy_read_timeout (the service's read_timeout) is the tunnel's idle timeout.
  const net::SpliceLimits limits{
      .idle = read_timeout(ctx), .write_to_a = kSendTimeout, .write_to_b = write_timeout(ctx)};
  co_await client_.tunnel(conn->stream, ctx, limits);
  co_return Outcome::close;
}

// Buffered proxying, for requests with `response`-phase plugins: read the whole upstream
// response, let the plugins read and reshape it, then send it.
asio::awaitable<Outcome> UpstreamExchange::buffer_response(std::unique_ptr<net::UpstreamConnection> conn,
                                                           RequestContext& ctx) {
  auto& resp = upstream_parser_.response();
  auto& sr = ctx.service_response;
  sr.status = resp.status;
  // Plugins see the upstream's Content-Length, as in Kong; the client gets the final body's length
  // (send_gateway_response computes it).
  sr.headers = upstream_headers_for_plugins(resp.headers);
  bool reusable = resp.keep_alive;
  bool done = ctx.request->method == "HEAD" || status_has_no_body(resp.status);
  // The whole body is held in memory: past buffered_response_max_size the upstream is cut off
  // (its connection dropped) and the client gets 502, by the announced length when there is one.
  const uint64_t max_size = ctx.snapshot->properties.buffered_response_max_size;
  const bool too_large = !done && max_size > 0 && resp.content_length && *resp.content_length > max_size;
  if (too_large) co_return co_await refuse_large_response(ctx, max_size);
  while (!done) {
    const auto read = co_await next_upstream_body_part(*conn, ctx);
    if (read.part == BodyPart::malformed)
      co_return co_await runloop_.respond(ctx, 502, http::kong_default_message(502));
    if (read.part == BodyPart::failed) {
      const int status = deadline_.expired() ? 504 : 502;
      co_return co_await runloop_.respond(ctx, status, http::kong_default_message(status));
    }
    done = read.part != BodyPart::more;
    if (read.part == BodyPart::last_at_eof) reusable = false;
    uint64_t size = sr.body.size();
    for (auto piece : read.pieces) size += piece.size();
    if (max_size > 0 && size > max_size) co_return co_await refuse_large_response(ctx, max_size);
    for (auto piece : read.pieces) sr.body.append(piece);
  }
  if (reusable && upstream_in_.empty()) worker_.pool().give_back(std::move(conn));
  sr.available = true;
  ctx.upstream_status = sr.status;

  // The client response starts as the upstream's, with the headers plugins already set.
  ctx.response.status = sr.status;
  ctx.response.headers = merged_response_headers(sr.headers, ctx.response.headers);
  ctx.response.body = sr.body;
  auto response_plugins = std::move(runloop_.state().response_plugins);
  // The runner's verdict on the phase, not a flag someone set on the way: a plugin's exit or a
  // fail_closed failure replaced the upstream's response.
  const bool produced = co_await runloop_.run_phase(ctx, core::Phase::response, response_plugins);
  co_return co_await runloop_.send_gateway_response(ctx, !produced);
}

// An upstream response too large to buffer for the response phase: logged once, answered 502
// (Kong's answer when its buffered proxying could not read the upstream's response).
asio::awaitable<Outcome> UpstreamExchange::refuse_large_response(RequestContext& ctx, uint64_t max_size) {
  ctx.upstream_status = upstream_parser_.response().status;
  spdlog::error(
      "upstream {} response body is larger than buffered_response_max_size ({} bytes), needed whole "
      "by the response phase: answering 502",
      ctx.upstream_addr, max_size);
  co_return co_await runloop_.respond(ctx, 502, http::kong_default_message(502));
}

}  // namespace gh::proxy
