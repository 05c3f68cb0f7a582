#include "proxy/http1_connection.h"

#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstring>

#include "common/log.h"
#include "common/strings.h"
#include "http/kong_responses.h"
#include "net/timed_read.h"
#include "proxy/tunnel.h"

namespace gh::proxy {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto kClientHeaderTimeout = 60s;  // nginx client_header_timeout
constexpr auto kKeepaliveTimeout = 60s;     // nginx keepalive_timeout
constexpr auto kTlsCloseTimeout = 1s;       // waiting for the client's close_notify

void append_status_line(std::string& out, int status, std::string_view reason) {
  out += "HTTP/1.1 ";
  append_decimal(out, static_cast<uint64_t>(status));
  out += ' ';
  out += reason;
  out += "\r\n";
}

// The status a request head that could not be parsed is answered with (nginx's).
int status_for_parse_error(http::ParseError error) {
  switch (error) {
    case http::ParseError::headers_too_large:
    case http::ParseError::too_many_headers:
      return 431;
    case http::ParseError::target_too_long:
      return 414;
    case http::ParseError::unknown_transfer_encoding:
      return 501;
    default:
      return 400;
  }
}

}  // namespace

Http1Connection::Http1Connection(Worker& worker, net::ByteStream stream, uint16_t server_port,
                                 ConnectionTls tls, std::string_view received)
    : worker_(worker),
      client_(std::move(stream)),
      connection_(worker, client_.socket(), server_port, client_.is_tls(), std::move(tls)),
      deadline_(client_.get_executor()),
      parser_(http::Parser::Kind::request),
      runloop_(connection_, *this, deadline_) {
  boost::system::error_code ec;
  client_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  worker_.track(&client_.socket());
  if (!received.empty()) {
    size_t available = 0;
    std::memcpy(in_.prepare(received.size(), available), received.data(), received.size());
    in_.commit(received.size());
  }
}

Http1Connection::~Http1Connection() {
  worker_.untrack(&client_.socket());
}

asio::awaitable<void> Http1Connection::run() {
  while (true) {
    // Awaited results go through a local: GCC 12 miscompiles a co_await in the condition of a
    // brace-less `if` (GCC PR 106188, see stream_session.cpp).
    const bool have_request = co_await read_request_head();
    if (!have_request) break;
    RequestContext ctx;
    worker_.active_requests++;
    Worker::count(worker_.requests_total);
    auto& req = parser_.request();
    runloop_.prepare(ctx, req, request_head_bytes_);
    client_wants_continue_ = req.version_minor >= 1 && req.headers.has_token("expect", "100-continue");
    Outcome outcome = co_await runloop_.run(ctx);
    // The next request starts where this one's body ends: read past whatever was not consumed.
    if (outcome == Outcome::keep_alive && !request_body_done_) {
      const bool discarded = co_await runloop_.discard_request_body();
      if (!discarded) outcome = Outcome::close;
    }
    co_await runloop_.complete(ctx);
    worker_.active_requests--;  // after the log phase is counted: draining never sees a gap
    first_request_ = false;
    if (outcome == Outcome::close || worker_.host().draining()) break;
  }
  co_await client_.close_notify(deadline_, kTlsCloseTimeout);
  deadline_.stop();
  boost::system::error_code ec;
  client_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  client_.socket().close(ec);
}

// Reads until a complete request head is parsed. Malformed heads are answered here (400, 414,
// 431, 501) and end the connection. Returns false when the connection is over.
asio::awaitable<bool> Http1Connection::read_request_head() {
  parser_.reset();
  request_body_done_ = false;
  request_head_bytes_ = 0;
  deadline_.arm(first_request_ ? kClientHeaderTimeout : kKeepaliveTimeout, client_);
  while (true) {
    if (!in_.empty()) {
      size_t consumed = 0;
      auto status = parser_.feed(in_.readable(), consumed);
      in_.consume(consumed);
      request_head_bytes_ += consumed;
      if (status == http::Parser::Status::headers_complete) break;
      if (status == http::Parser::Status::message_complete) {
        request_body_done_ = true;
        break;
      }
      if (status == http::Parser::Status::error) {
        spdlog::info("client {}:{} sent a malformed request: {}", connection_.remote_ip,
                     connection_.remote_port, parser_.error_reason());
        co_await respond_without_request(status_for_parse_error(parser_.error()));
        co_return false;
      }
    }
    // One deadline for the whole head (armed above), however many reads it takes.
    const auto read = co_await net::read_into(client_, in_, 4096);
    if (read.error) {
      if (parser_.in_message() && deadline_.expired()) co_await respond_without_request(408);
      co_return false;
    }
  }
  deadline_.disarm();
  co_return true;
}

// Answers a head that never became a request (malformed, too large, timed out) and logs it.
// A coroutine of its own so that read_request_head's frame, allocated per request, does not
// carry a RequestContext for this rare path.
asio::awaitable<void> Http1Connection::respond_without_request(int status) {
  RequestContext ctx;
  runloop_.prepare(ctx, parser_.request(), request_head_bytes_);
  co_await runloop_.respond(ctx, status, http::kong_default_message(status));
  runloop_.write_access_log(ctx);
}

BodyFeed Http1Connection::take_body(std::vector<std::string_view>& pieces) {
  if (!parser_.headers_done()) return BodyFeed::malformed;  // no request head, so no body to frame
  while (!request_body_done_) {
    size_t consumed = 0;
    auto status = parser_.feed(in_.readable(), consumed);
    if (status == http::Parser::Status::error) return BodyFeed::malformed;
    for (auto piece : parser_.body()) pieces.push_back(piece);
    in_.consume(consumed);  // the views stay valid: consume() never moves bytes
    if (status == http::Parser::Status::message_complete) request_body_done_ = true;
    if (status != http::Parser::Status::headers_complete || consumed == 0) break;
  }
  return request_body_done_ ? BodyFeed::complete : BodyFeed::need_more;
}

asio::awaitable<bool> Http1Connection::receive_body(uint64_t& received) {
  const auto read = co_await net::read_within(deadline_, kClientBodyTimeout, client_, in_, 16 * 1024);
  received += read.bytes;
  co_return !read.error;
}

// Expect: 100-continue: the client waits for a go-ahead before it sends the body. Sent once, when
// the body is about to be read and none of it arrived yet.
asio::awaitable<bool> Http1Connection::send_continue_if_expected() {
  if (!client_wants_continue_ || !in_.empty()) co_return true;
  client_wants_continue_ = false;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  deadline_.arm(kSendTimeout, client_);
  auto [ec, n] = co_await client_.write(asio::buffer(kContinue));
  deadline_.disarm();
  co_return !ec;
}

HeaderSink& Http1Connection::start_response(int status, std::string_view reason) {
  head_out_.clear();
  append_status_line(head_out_, status, reason);
  return head_lines_;
}

void Http1Connection::frame_response(const ResponseFraming& framing) {
  const auto& req = parser_.request();
  chunked_ = !framing.upgrade && !framing.no_body && !framing.content_length && req.version_minor >= 1;
  // A body of unknown length that cannot be chunked (HTTP/1.0) ends with the connection; after a
  // malformed or timed-out request head the connection's framing can't be trusted.
  keep_alive_ = !framing.upgrade && framing.keep_alive && req.keep_alive && parser_.headers_done() &&
                (framing.no_body || framing.content_length || chunked_);
  if (framing.content_length) {
    head_out_ += "Content-Length: ";
    append_decimal(head_out_, *framing.content_length);
    head_out_ += "\r\n";
  }
  if (chunked_) head_out_ += "Transfer-Encoding: chunked\r\n";
  if (!keep_alive_ && !framing.upgrade) close_after_head_ = true;
}

asio::awaitable<bool> Http1Connection::send_head(std::vector<asio::const_buffer>& body, bool last,
                                                 RequestContext& ctx) {
  if (close_after_head_) head_out_ += "Connection: close\r\n";
  close_after_head_ = false;
  head_out_ += "\r\n";
  out_.clear();
  out_.emplace_back(asio::buffer(head_out_));
  frame_body(body, last);
  co_return co_await write_client(ctx);
}

asio::awaitable<bool> Http1Connection::send_body(std::vector<asio::const_buffer>& body, bool last,
                                                 RequestContext& ctx) {
  out_.clear();
  frame_body(body, last);
  if (out_.empty()) co_return true;
  co_return co_await write_client(ctx);
}

void Http1Connection::frame_body(std::vector<asio::const_buffer>& body, bool last) {
  for (const auto& piece : body) {
    if (piece.size() == 0) continue;
    if (chunked_)
      out_.emplace_back(asio::buffer(chunk_prefixes_.emplace_back(fmt::format("{:x}\r\n", piece.size()))));
    out_.push_back(piece);
    if (chunked_) out_.emplace_back(asio::buffer("\r\n", 2));
  }
  if (chunked_ && last) out_.emplace_back(asio::buffer("0\r\n\r\n", 5));
}

// Writes out_: what the socket takes at once without suspending, the rest within send_timeout.
asio::awaitable<bool> Http1Connection::write_client(RequestContext& ctx) {
  boost::system::error_code failed;
  ctx.response_bytes += client_.write_now(out_, failed);
  bool ok = !failed;
  if (ok && !out_.empty()) {
    deadline_.arm(kSendTimeout, client_);
    auto [ec, n] = co_await client_.write(out_);
    deadline_.disarm();
    ctx.response_bytes += n;
    ok = !ec;
  }
  chunk_prefixes_.clear();
  co_return ok;
}

asio::awaitable<void> Http1Connection::tunnel(net::ByteStream& upstream, RequestContext& ctx,
                                              net::SpliceLimits limits) {
  // What the client sent after its request belongs to the tunnel; the connection's HTTP buffers
  // are not needed again (a long-lived tunnel keeps only its own).
  const std::string client_bytes(in_.readable());
  in_ = net::Buffer(0);
  co_await run_tunnel(client_, upstream, client_bytes, ctx, limits);
}

}  // namespace gh::proxy
