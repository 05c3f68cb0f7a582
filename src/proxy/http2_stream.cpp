#include "proxy/http2_stream.h"

#include <charconv>
#include <cstring>

#include "common/log.h"
#include "common/strings.h"
#include "http/kong_responses.h"

namespace gh::proxy {

namespace asio = boost::asio;

namespace {

nghttp2_nv field(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// RFC 9113 §8.2.2: fields that only mean something to one HTTP/1.1 connection.
bool connection_specific(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" || lower_name == "proxy-connection" ||
         lower_name == "transfer-encoding" || lower_name == "upgrade";
}

}  // namespace

Http2Stream::Http2Stream(Http2Connection& connection, int32_t id)
    : connection_(connection),
      id_(id),
      deadline_(connection.worker().io().get_executor()),
      wakeup_(connection.worker().io().get_executor()),
      body_wakeup_(connection.worker().io().get_executor()),
      runloop_(connection.connection(), *this, deadline_) {}

void Http2Stream::add_header(std::string_view name, std::string_view value) {
  // Counted as SETTINGS_MAX_HEADER_LIST_SIZE counts (RFC 9113 §6.5.2). Past the limit nothing
  // more is kept (an HPACK bomb decodes to far more than it sends): the request gets 431.
  head_bytes_ += name.size() + value.size() + 32;
  if (head_bytes_ > connection_.limits().max_header_list) head_too_large_ = true;
  if (head_too_large_) return;
  if (name.starts_with(':')) {  // nghttp2 already refused unknown, repeated or misplaced ones
    if (name == ":method")
      head_.method = value;
    else if (name == ":path")
      head_.target = value;
    else if (name == ":authority")
      authority_ = value;
    else if (name == ":scheme")
      scheme_ = value;
    return;
  }
  head_.headers.add(std::string(name), std::string(value));
}

bool Http2Stream::finish_head(bool end_stream) {
  head_.version_major = 2;
  head_.version_minor = 0;
  head_.keep_alive = true;
  // RFC 9113 §8.3.1: :authority stands for Host. §8.2.3: cookies split into several fields are
  // one header again for HTTP/1.1.
  if (!authority_.empty() && !head_.headers.has("host")) head_.headers.add("host", authority_);
  if (head_.headers.count("cookie") > 1) {
    std::string joined;
    for (auto part : head_.headers.get_all("cookie")) {
      if (!joined.empty()) joined += "; ";
      joined += part;
    }
    head_.headers.set("cookie", std::move(joined));
  }
  if (const auto length = head_.headers.get("content-length")) {
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(length->data(), length->data() + length->size(), n);
    if (ec == std::errc() && end == length->data() + length->size()) head_.content_length = n;
  }
  wants_continue_ = head_.headers.has_token("expect", "100-continue");
  if (end_stream) {
    body_done_ = true;
    head_.content_length.reset();
  } else if (!head_.content_length) {
    head_.chunked = true;  // DATA frames of a length not announced: streamed like a chunked body
  }
  return true;
}

void Http2Stream::add_body(std::string_view bytes) {
  body_in_.append(bytes);
  body_unreported_ += bytes.size();
  body_unconsumed_ += bytes.size();
  body_wakeup_.trigger();
}

void Http2Stream::end_body() {
  body_done_ = true;
  body_wakeup_.trigger();
}

void Http2Stream::closed(uint32_t error_code) {
  closed_ = true;
  if (error_code != NGHTTP2_NO_ERROR && !response_complete_)
    spdlog::debug("HTTP/2 stream {} of {}:{} reset: {}", id_, connection_.connection().remote_ip,
                  connection_.connection().remote_port, nghttp2_http2_strerror(error_code));
  wakeup_.trigger();
  body_wakeup_.trigger();
}

void Http2Stream::connection_lost() {
  wakeup_.trigger();
  body_wakeup_.trigger();
}

void Http2Stream::stop_receiving() {
  body_wait_stopped_ = true;
  body_wakeup_.trigger();
}

asio::awaitable<void> Http2Stream::run() {
  if (closed_) {  // reset before its turn came (a rapid reset): nothing runs for it
    release_unread_body();
    connection_.stream_finished();
    co_return;
  }
  auto& worker = connection_.worker();
  worker.active_requests++;
  Worker::count(worker.requests_total);
  RequestContext ctx;
  runloop_.prepare(ctx, head_, head_bytes_);
  Outcome outcome = Outcome::close;
  if (head_too_large_)
    outcome = co_await runloop_.respond(ctx, 431, http::kong_default_message(431));
  else
    outcome = co_await runloop_.run(ctx);
  co_await runloop_.complete(ctx);
  worker.active_requests--;
  // The response's last bytes may still wait for the client's window: at most send_timeout
  // without progress, then the stream is reset (a zero-window client holds nothing longer).
  while (outcome == Outcome::keep_alive && usable() && !response_complete_) {
    const bool progressed = co_await wakeup_.wait(connection_.limits().send);
    if (!progressed) break;
  }
  if (outcome == Outcome::keep_alive && usable() && response_complete_ && !body_done_) co_await drain_body();
  auto* session = connection_.session();
  if (usable()) {
    // A response cut short is reset; a complete one while the client still sends its body tells
    // it to stop (RFC 9113 §8.1).
    if (!response_complete_)
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
    else if (!body_done_)
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
  }
  release_unread_body();
  connection_.stream_finished();
}

// The rest of a request body the response did not need (the gateway answered first), read and
// dropped for a moment before the stream is reset: RFC 9113 §8.1 allows RST_STREAM NO_ERROR at
// once, but gRPC clients take it for a failure when it comes before their request ended. Bounded
// by time and bytes: a client that keeps sending is reset all the same.
asio::awaitable<void> Http2Stream::drain_body() {
  constexpr auto kDrainTime = std::chrono::seconds(1);
  constexpr uint64_t kDrainBytes = 1024 * 1024;
  const auto until = std::chrono::steady_clock::now() + kDrainTime;
  uint64_t dropped = 0;
  while (!body_done_ && usable() && dropped <= kDrainBytes) {
    dropped += body_in_.size();
    release_unread_body();
    connection_.want_write();
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) break;
    const bool woken = co_await body_wakeup_.wait(until - now);  // not in ||: GCC 12 and co_await
    if (!woken) break;
  }
}

// Bytes received but never taken: the connection's window opens for them again.
void Http2Stream::release_unread_body() {
  if (body_unconsumed_ > 0 && connection_.alive())
    nghttp2_session_consume(connection_.session(), id_, body_unconsumed_);
  body_unconsumed_ = 0;
  body_in_.clear();
  body_taken_.clear();
}

BodyFeed Http2Stream::take_body(std::vector<std::string_view>& pieces) {
  body_taken_.clear();
  std::swap(body_taken_, body_in_);
  if (!body_taken_.empty()) {
    pieces.emplace_back(body_taken_);
    // The runloop holds these bytes now: the client may send as many again.
    if (connection_.alive()) {
      nghttp2_session_consume(connection_.session(), id_, body_taken_.size());
      connection_.want_write();
    }
    body_unconsumed_ -= std::min<uint64_t>(body_unconsumed_, body_taken_.size());
  }
  return body_done_ ? BodyFeed::complete : BodyFeed::need_more;
}

asio::awaitable<bool> Http2Stream::receive_body(uint64_t& received) {
  while (body_in_.empty() && !body_done_) {
    if (!usable() || body_wait_stopped_) co_return false;
    const bool woken = co_await body_wakeup_.wait(connection_.limits().client_body);
    if (!woken) co_return false;  // client_body_timeout passed without a byte
  }
  received += body_unreported_;
  body_unreported_ = 0;
  co_return true;
}

// RFC 9110 §10.1.1 over HTTP/2: an interim HEADERS frame with :status 100.
asio::awaitable<bool> Http2Stream::send_continue_if_expected() {
  if (!wants_continue_ || !body_in_.empty() || body_done_) co_return usable();
  wants_continue_ = false;
  if (!usable()) co_return false;
  const nghttp2_nv status = field(":status", "100");
  nghttp2_submit_headers(connection_.session(), NGHTTP2_FLAG_NONE, id_, nullptr, &status, 1, nullptr);
  connection_.want_write();
  co_return true;
}

void Http2Stream::ResponseHeaders::add(std::string_view name, std::string_view value) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (connection_specific(lower)) return;
  fields.emplace_back(std::move(lower), std::string(value));
}

HeaderSink& Http2Stream::start_response(int status, std::string_view) {
  status_ = status;
  response_headers_.fields.clear();
  return response_headers_;
}

void Http2Stream::frame_response(const ResponseFraming& framing) {
  no_body_ = framing.no_body;
  if (framing.content_length)
    response_headers_.fields.emplace_back("content-length", std::to_string(*framing.content_length));
}

asio::awaitable<bool> Http2Stream::send_head(std::vector<asio::const_buffer>& body, bool last,
                                             RequestContext& ctx) {
  if (!usable()) co_return false;
  const std::string status = std::to_string(status_);
  std::vector<nghttp2_nv> fields;
  fields.reserve(response_headers_.fields.size() + 1);
  fields.push_back(field(":status", status));
  for (const auto& [name, value] : response_headers_.fields) {
    fields.push_back(field(name, value));
    ctx.response_bytes += name.size() + value.size() + 4;
  }
  auto* session = connection_.session();
  int rv = 0;
  size_t body_size = 0;
  for (const auto& piece : body) body_size += piece.size();
  // No body at all and nothing after it: the HEADERS frame ends the stream (nginx does the same;
  // a gRPC "trailers-only" answer is exactly this).
  if (no_body_ || (last && body_size == 0 && trailers_.empty())) {
    rv = nghttp2_submit_response(session, id_, fields.data(), fields.size(), nullptr);
    response_complete_ = true;
  } else {
    queue_body(body, last, ctx);
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = read_response_body;
    rv = nghttp2_submit_response(session, id_, fields.data(), fields.size(), &provider);
  }
  connection_.want_write();
  if (rv != 0) {
    spdlog::debug("HTTP/2 stream {}: response not sent: {}", id_, nghttp2_strerror(rv));
    co_return false;
  }
  co_return co_await wait_for_window();
}

asio::awaitable<bool> Http2Stream::send_body(std::vector<asio::const_buffer>& body, bool last,
                                             RequestContext& ctx) {
  if (!usable()) co_return false;
  queue_body(body, last, ctx);
  nghttp2_session_resume_data(connection_.session(), id_);
  connection_.want_write();
  co_return co_await wait_for_window();
}

void Http2Stream::queue_body(const std::vector<asio::const_buffer>& body, bool last, RequestContext& ctx) {
  if (body_out_sent_ == body_out_.size()) {
    body_out_.clear();
    body_out_sent_ = 0;
  } else if (body_out_sent_ >= connection_.limits().response_buffer) {
    body_out_.erase(0, body_out_sent_);
    body_out_sent_ = 0;
  }
  for (const auto& piece : body) {
    body_out_.append(static_cast<const char*>(piece.data()), piece.size());
    ctx.response_bytes += piece.size();
  }
  body_out_last_ = last;
}

// Returns once at most response_buffer bytes wait for the client's window; false when the
// stream ended, or the window stayed shut for send_timeout (the stream is then reset).
asio::awaitable<bool> Http2Stream::wait_for_window() {
  while (usable() && body_out_.size() - body_out_sent_ > connection_.limits().response_buffer) {
    const bool progressed = co_await wakeup_.wait(connection_.limits().send);
    if (progressed) continue;
    spdlog::info("HTTP/2 client {}:{} did not read stream {} within send_timeout: reset",
                 connection_.connection().remote_ip, connection_.connection().remote_port, id_);
    nghttp2_submit_rst_stream(connection_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    reset_sent_ = true;
    connection_.want_write();
    co_return false;
  }
  co_return usable();
}

ssize_t Http2Stream::read_response_body(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                                        size_t length, uint32_t* flags, nghttp2_data_source* source, void*) {
  auto& self = *static_cast<Http2Stream*>(source->ptr);
  const size_t pending = self.body_out_.size() - self.body_out_sent_;
  const size_t n = std::min(length, pending);
  std::memcpy(buf, self.body_out_.data() + self.body_out_sent_, n);
  self.body_out_sent_ += n;
  if (n == pending && self.body_out_last_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!self.trailers_.empty() && self.submit_trailers(session, stream_id))
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    self.response_complete_ = true;
  } else if (n == 0) {
    return NGHTTP2_ERR_DEFERRED;  // resumed by send_body
  }
  self.wakeup_.trigger();
  return static_cast<ssize_t>(n);
}

void Http2Stream::set_trailers(std::vector<std::pair<std::string, std::string>> fields) {
  trailers_ = std::move(fields);
}

// From the data callback that ends the body: the trailers follow the last DATA frame (nghttp2
// copies the fields). False: they could not be queued, the DATA frame ends the stream instead.
bool Http2Stream::submit_trailers(nghttp2_session* session, int32_t stream_id) {
  std::vector<nghttp2_nv> fields;
  fields.reserve(trailers_.size());
  for (const auto& [name, value] : trailers_) fields.push_back(field(name, value));
  const int rv = nghttp2_submit_trailer(session, stream_id, fields.data(), fields.size());
  if (rv != 0) spdlog::debug("HTTP/2 stream {}: trailers not sent: {}", stream_id, nghttp2_strerror(rv));
  return rv == 0;
}

asio::awaitable<void> Http2Stream::tunnel(net::ByteStream&, RequestContext&, net::SpliceLimits) {
  co_return;  // never asked: supports_upgrade() is false
}

}  // namespace gh::proxy
