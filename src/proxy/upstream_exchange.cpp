#include "proxy/upstream_exchange.h"

#include <fmt/format.h>

#include "common/log.h"
#include "common/strings.h"
#include "http/kong_responses.h"
#include "proxy/request_runloop.h"
#include "proxy/tunnel.h"
#include "proxy/upstream_headers.h"

namespace gh::proxy {

namespace asio = boost::asio;

namespace {

// RFC 9110's idempotent methods: a request the upstream may have seen is only sent again with
// one of these. (nginx repeats every method but POST, LOCK and PATCH; an unknown method may not
// be safe to repeat, so it is not.)
bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

}  // namespace

UpstreamExchange::UpstreamExchange(RequestRunloop& runloop, Worker& worker, net::Deadline& deadline)
    : runloop_(runloop),
      client_(runloop.client()),
      worker_(worker),
      deadline_(deadline),
      connector_(upstream::ConnectorResources{worker.io().get_executor(), worker.resolver(), &worker.pool(),
                                              [&worker] { return worker.upstream_tls(); }},
                 deadline),
      upstream_parser_(http::Parser::Kind::response) {}

asio::awaitable<Outcome> UpstreamExchange::proxy(RequestContext& ctx) {
  if (is_h2_upstream(ctx.upstream.scheme)) {
    if (!h2_) h2_ = std::make_unique<UpstreamH2>(runloop_, worker_, connector_);
    h2_used_ = true;
    co_return co_await h2_->proxy(ctx);
  }
  const auto& req = *ctx.request;
  auto& state = runloop_.state();

  // The body: a plugin's replacement, or the client's. With the route's request_buffering (Kong's
  // default) the client's body is read whole first, in memory or in a temporary file, and sent
  // with its Content-Length, as nginx does. Without it, a body that arrived whole with the head
  // is kept in memory, so the request can be retried; a larger one is streamed once.
  std::string collected;
  std::string_view body;
  const SpooledBody* body_file = nullptr;
  bool body_complete = true;
  bool chunked = false;
  if (state.body_too_large) co_return co_await runloop_.respond(ctx, 413, http::kong_default_message(413));
  if (state.websocket && !state.response_plugins.empty()) {
    // Kong turns buffered proxying off for an upgrade: no response phase (and no buffering).
    spdlog::info("response buffering was turned off: connection upgrade (websocket)");
    state.response_plugins.clear();
  }
  if (ctx.upstream.body) {
    const bool discarded = co_await runloop_.discard_request_body();
    if (!discarded) co_return co_await runloop_.refuse_bad_request_body(ctx);
    body = *ctx.upstream.body;
  } else if (req.has_body() &&
             (ctx.match->route->request_buffering || state.body_read || !state.response_plugins.empty())) {
    // Read whole also when a plugin read it already (or tried), and for the response phase: Kong
    // reads the body before its buffered proxying, so plugins can still read it there.
    const auto read = co_await runloop_.read_whole_request_body(ctx);
    if (read != RequestRunloop::BodyOutcome::complete)
      co_return co_await runloop_.refuse_request_body(ctx, read);
    if (ctx.buffered_request_body)
      body = *ctx.buffered_request_body;
    else
      body_file = state.body_file.get();
  } else if (req.has_body()) {
    const bool continued = co_await client_.send_continue_if_expected();
    if (!continued) co_return Outcome::close;
    body_complete = collect_available_body(collected);
    if (client_.body_malformed()) co_return co_await runloop_.refuse_bad_request_body(ctx);
    const size_t limit = ctx.snapshot->properties.client_max_body_size;
    if (limit > 0 && collected.size() > limit)
      co_return co_await runloop_.respond(ctx, 413, http::kong_default_message(413));
    chunked = !body_complete && !req.content_length;
    body = collected;
  }
  const uint64_t content_length = body_file       ? body_file->size()
                                  : body_complete ? body.size()
                                                  : (req.content_length ? *req.content_length : 0);
  serialize_upstream_head(ctx, chunked, content_length);

  // Once the upstream may have seen the request, it goes again only when we still hold all of it
  // and the method is idempotent (nginx: proxy_next_upstream without non_idempotent).
  const bool may_repeat = body_complete && is_idempotent(ctx.upstream.method);
  // A pooled connection that provably got no byte (what went out so far is still in head_out_ and
  // `body`, the rest still with the client): one retry that is not a try.
  bool free_retry_left = true;

  UpstreamTries tries(worker_.balancer(), worker_.host().upstreams(), ctx);
  while (true) {
    std::unique_ptr<net::UpstreamConnection> conn;
    if (!tries.take_pooled(connector_, conn)) {
      const bool connected = co_await tries.connect(connector_, conn);
      if (!connected) break;
    }

    const bool reused = conn->requests > 0;
    // Head and the body bytes we hold go out in one write.
    std::string chunk_head;
    out_.clear();
    out_.emplace_back(asio::buffer(head_out_));
    if (!body.empty()) {
      if (chunked) {
        chunk_head = fmt::format("{:x}\r\n", body.size());
        out_.emplace_back(asio::buffer(chunk_head));
      }
      out_.emplace_back(asio::buffer(body));
      if (chunked) out_.emplace_back(asio::buffer("\r\n", 2));
    }
    boost::system::error_code wec;
    conn->stream.write_now(out_, wec);
    // write_now fails only before any byte left: the upstream saw nothing of this request.
    const bool nothing_sent = static_cast<bool>(wec);
    if (!wec && !out_.empty()) {
      deadline_.arm(write_timeout(ctx), conn->socket);
      auto [ec, written] = co_await conn->stream.write(out_);
      deadline_.disarm();
      wec = ec;
    }
    if (!wec && body_file) {
      const bool sent = co_await send_spooled_body(*conn, ctx, *body_file);
      if (!sent) wec = asio::error::broken_pipe;
    }
    if (wec) {
      spdlog::error("upstream {} failed while sending the request: {}", ctx.upstream_addr,
                    deadline_.expired() ? "timed out" : wec.message());
      if (reused && nothing_sent && free_retry_left) {
        // A pooled connection closed between the pool's check and our write: not a real try, once.
        free_retry_left = false;
        tries.uncount(UpstreamError::write);
        continue;
      }
      tries.failed(UpstreamError::write);
      if (may_repeat) continue;
      break;
    }
    if (!body_complete) {
      auto err = co_await stream_rest_of_body(*conn, ctx, chunked, body.size());
      if (err != UpstreamError::none) {
        if (err == UpstreamError::closed_early) co_return Outcome::close;  // the client went away
        // The upstream got part of a body the client then broke: it may be waiting for the rest,
        // so its connection is dropped (closed, never pooled) along with the client's.
        if (err == UpstreamError::bad_request_body) co_return co_await runloop_.refuse_bad_request_body(ctx);
        // The upstream got part of a body over the limit: the connection cannot be reused (dropped here).
        const int status = err == UpstreamError::body_too_large ? 413 : 502;
        co_return co_await runloop_.respond(ctx, status, http::kong_default_message(status));
      }
    }
    conn->requests++;

    const auto error = co_await read_response_head(*conn, ctx, req.method == "HEAD");
    if (error == UpstreamError::none) {
      tries.responded(upstream_parser_.response().status);
      if (upstream_parser_.response().status == 101) {
        auto switched = switch_protocols(std::move(conn), ctx);
        co_return co_await std::move(switched);
      }
      auto answer = state.response_plugins.empty() ? forward_response(std::move(conn), ctx)
                                                   : buffer_response(std::move(conn), ctx);
      co_return co_await std::move(answer);
    }
    tries.failed(error);
    // The upstream got the request and may have acted on it: only an idempotent one goes again,
    // as a counted try. A malformed answer or a read timeout is final (docs/upstream.md).
    if (error == UpstreamError::closed_early && may_repeat) continue;
    break;
  }
  const auto answer = tries.answer();
  co_return co_await runloop_.respond(ctx, answer.status, answer.message);
}

void UpstreamExchange::serialize_upstream_head(const RequestContext& ctx, bool chunked,
                                               size_t content_length) {
  const auto& up = ctx.upstream;
  std::string& out = head_out_;
  out.clear();
  out += up.method;
  out += ' ';
  out += up.path.empty() ? "/" : up.path;
  if (!up.query.empty()) {
    out += '?';
    out += up.query;
  }
  out += " HTTP/1.1\r\n";
  HeadLinesSink lines(out);
  up.headers.emit(ForwardedHeaders(runloop_, ctx), lines);
  if (runloop_.state().websocket) out += kWebSocketRequestLines;
  if (chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  } else if (content_length > 0 || !(up.method == "GET" || up.method == "HEAD")) {
    out += "Content-Length: ";
    append_decimal(out, content_length);
    out += "\r\n";
  }
  out += "\r\n";
}

bool UpstreamExchange::collect_available_body(std::string& body) {
  pieces_.clear();
  const auto feed = client_.take_body(pieces_);
  for (auto piece : pieces_) body.append(piece);
  return feed == BodyFeed::complete;
}

// Streams the request body bytes still to come from the client to the upstream.
asio::awaitable<UpstreamError> UpstreamExchange::stream_rest_of_body(net::UpstreamConnection& conn,
                                                                     RequestContext& ctx, bool chunked,
                                                                     uint64_t sent) {
  const size_t limit = ctx.snapshot->properties.client_max_body_size;
  uint64_t total = sent;
  std::string chunk_head;
  bool done = client_.body_done();
  while (!done) {
    const bool received = co_await client_.receive_body(ctx.request_bytes);
    if (!received) co_return UpstreamError::closed_early;
    pieces_.clear();
    const auto feed = client_.take_body(pieces_);
    if (feed == BodyFeed::malformed) co_return UpstreamError::bad_request_body;
    done = feed == BodyFeed::complete;
    out_.clear();
    for (auto piece : pieces_) {
      total += piece.size();
      if (chunked) {
        chunk_head = fmt::format("{:x}\r\n", piece.size());
        out_.emplace_back(asio::buffer(chunk_prefixes_.emplace_back(chunk_head)));
      }
      out_.emplace_back(asio::buffer(piece));
      if (chunked) out_.emplace_back(asio::buffer("\r\n", 2));
    }
    if (chunked && done) out_.emplace_back(asio::buffer("0\r\n\r\n", 5));
    if (limit > 0 && total > limit) co_return UpstreamError::body_too_large;
    if (!out_.empty()) {
      deadline_.arm(write_timeout(ctx), conn.socket);
      auto [wec, written] = co_await conn.stream.write(out_);
      deadline_.disarm();
      if (wec) co_return UpstreamError::write;
    }
    chunk_prefixes_.clear();
  }
  co_return UpstreamError::none;
}

// Sends a body kept in a temporary file to the upstream, one buffer at a time.
asio::awaitable<bool> UpstreamExchange::send_spooled_body(net::UpstreamConnection& conn, RequestContext& ctx,
                                                          const SpooledBody& body) {
  std::string buffer(64 * 1024, '\0');
  for (uint64_t offset = 0; offset < body.size();) {
    const size_t n = body.read_to_send(offset, buffer.data(), buffer.size());
    if (n == 0) co_return false;
    offset += n;
    deadline_.arm(write_timeout(ctx), conn.socket);
    auto [ec, written] = co_await conn.stream.write(asio::buffer(buffer.data(), n));
    deadline_.disarm();
    if (ec) co_return false;
  }
  co_return true;
}

}  // namespace gh::proxy
