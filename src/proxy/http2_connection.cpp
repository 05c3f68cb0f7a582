#include "proxy/http2_connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "proxy/http2_stream.h"

namespace gh::proxy {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kDrainCheck = 1s;  // how soon a draining gateway's GOAWAY goes out
// Stream coroutines still running (open, or reset and finishing) per allowed concurrent stream.
constexpr int kRunningStreamsPerLimit = 2;
constexpr auto kNever = std::chrono::hours(24 * 365);

Http2Connection& self(void* user_data) {
  return *static_cast<Http2Connection*>(user_data);
}

std::string_view view(nghttp2_rcbuf* buf) {
  const auto b = nghttp2_rcbuf_get_buf(buf);
  return {reinterpret_cast<const char*>(b.base), b.len};
}

}  // namespace

asio::awaitable<bool> Wakeup::wait(std::chrono::steady_clock::duration timeout) {
  if (!triggered_) {
    timer_.expires_after(timeout);
    waiting_ = true;
    co_await timer_.async_wait(use_tuple);
    waiting_ = false;
  }
  const bool triggered = triggered_;
  triggered_ = false;
  co_return triggered;
}

void Wakeup::trigger() {
  triggered_ = true;
  if (waiting_) timer_.cancel();
}

bool Http2Connection::Bucket::take(double burst, double per_second) {
  const auto now = std::chrono::steady_clock::now();
  if (last == std::chrono::steady_clock::time_point{})
    tokens = burst;
  else
    tokens = std::min(burst, tokens + std::chrono::duration<double>(now - last).count() * per_second);
  last = now;
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

Http2Connection::Http2Connection(Worker& worker, net::ByteStream stream, uint16_t server_port,
                                 ConnectionTls tls, std::string_view received)
    : worker_(worker),
      client_(std::move(stream)),
      connection_(worker, client_.socket(), server_port, client_.is_tls(), std::move(tls)),
      received_(received),
      read_deadline_(client_.get_executor()),
      write_deadline_(client_.get_executor()),
      writer_wakeup_(client_.get_executor()),
      done_wakeup_(client_.get_executor()),
      drain_timer_(client_.get_executor()) {
  boost::system::error_code ec;
  client_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  worker_.track(&client_.socket());
  const auto& timeouts = connection_.current_snapshot()->properties.proxy_timeouts;
  limits_.client_header = std::chrono::seconds(timeouts.client_header);
  limits_.keepalive = std::chrono::seconds(timeouts.keepalive);
  limits_.client_body = std::chrono::seconds(timeouts.client_body);
  limits_.send = std::chrono::seconds(timeouts.send);
  start_session();
}

Http2Connection::~Http2Connection() {
  streams_.clear();
  if (session_) nghttp2_session_del(session_);
  worker_.untrack(&client_.socket());
}

void Http2Connection::start_session() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback2(callbacks, on_header);
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, on_begin_frame);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_option* options = nullptr;
  nghttp2_option_new(&options);
  // The window reopens as the runloop takes request body bytes, not as they arrive: unread
  // bytes are bounded by the windows we announce.
  nghttp2_option_set_no_auto_window_update(options, 1);
  nghttp2_option_set_no_closed_streams(options, 1);
  nghttp2_option_set_max_continuations(options, limits_.max_continuations);
  // nghttp2's own rapid-reset limit stays as a backstop behind ours (on_frame_recv).
  nghttp2_option_set_stream_reset_rate_limit(options, 1000, 33);
  nghttp2_session_server_new2(&session_, callbacks, this, options);
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, limits_.connection_window);
}

asio::awaitable<void> Http2Connection::run() {
  auto ended = [this](bool& running) {
    return [this, &running](std::exception_ptr) {
      running = false;
      done_wakeup_.trigger();
    };
  };
  writer_running_ = watcher_running_ = true;
  asio::co_spawn(client_.get_executor(), write_loop(), ended(writer_running_));
  asio::co_spawn(client_.get_executor(), watch_drain(), ended(watcher_running_));
  co_await read_loop();
  // Reading is over (the client left, the session ended, a timeout or a protocol error): the
  // writer sends what is queued (a GOAWAY), the streams end, then the connection closes.
  closed_ = true;
  close_streams();
  want_write();
  drain_timer_.cancel();
  while (writer_running_ || watcher_running_) co_await done_wakeup_.wait(kNever);
  // Nothing more can reach the client: it is not kept waiting for streams still finishing work
  // it reset or abandoned (an upstream answer, a log plugin); they end on their own timeouts.
  co_await client_.close_notify(read_deadline_, 1s);
  read_deadline_.stop();
  write_deadline_.stop();
  boost::system::error_code ec;
  client_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  client_.socket().close(ec);
  while (running_streams_ > 0) co_await done_wakeup_.wait(kNever);  // they use this connection's state
}

asio::awaitable<void> Http2Connection::read_loop() {
  std::string buffer(16 * 1024, '\0');
  bool first = true;
  while (!closed_) {
    if (!received_.empty()) {
      const auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(received_.data()),
                                               received_.size());
      received_.clear();
      if (rv < 0) {
        // Not HTTP/2 at all (a bad preface): just close. A flood nghttp2 caught (CONTINUATION,
        // unsent ACKs): ENHANCE_YOUR_CALM. Any other fatal error: PROTOCOL_ERROR.
        const int error = static_cast<int>(rv);
        spdlog::debug("HTTP/2 client {}:{}: {}", connection_.remote_ip, connection_.remote_port,
                      nghttp2_strerror(error));
        if (error != NGHTTP2_ERR_BAD_CLIENT_MAGIC && !goaway_sent_)
          nghttp2_session_terminate_session(
              session_, error == NGHTTP2_ERR_FLOODED || error == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                            ? NGHTTP2_ENHANCE_YOUR_CALM
                            : NGHTTP2_PROTOCOL_ERROR);
        break;
      }
      want_write();
    }
    if (!nghttp2_session_want_read(session_)) break;
    // No stream open: the connection is idle and may be closed at the timeout; with streams
    // open, each stream's own timeouts bound it.
    if (streams_.empty())
      read_deadline_.arm(first ? limits_.client_header : limits_.keepalive, client_);
    else
      read_deadline_.disarm();
    auto [ec, n] = co_await client_.read_some(asio::buffer(buffer));
    read_deadline_.disarm();
    if (ec) {
      // Idle past the timeout: say goodbye properly (nginx does too), the writer sends it.
      if (read_deadline_.expired()) nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
      break;
    }
    first = false;
    received_.assign(buffer.data(), n);
  }
}

asio::awaitable<void> Http2Connection::write_loop() {
  std::string out;
  while (true) {
    out.clear();
    while (out.size() < 64 * 1024) {
      const uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        spdlog::debug("HTTP/2 session with {}:{} failed: {}", connection_.remote_ip, connection_.remote_port,
                      nghttp2_strerror(static_cast<int>(n)));
        closed_ = true;
        break;
      }
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (!out.empty()) {
      write_deadline_.arm(limits_.send, client_);
      auto [ec, written] = co_await client_.write(asio::buffer(out));
      write_deadline_.disarm();
      if (ec) {
        closed_ = true;
        close_streams();
        break;
      }
      continue;
    }
    // The session is over (GOAWAY exchanged, no stream left) or the connection failed.
    if (closed_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))) break;
    co_await writer_wakeup_.wait(kNever);
  }
  // Nothing more goes out: a reader still waiting stops too.
  closed_ = true;
  boost::system::error_code ignored;
  client_.socket().cancel(ignored);
}

// A draining gateway tells its HTTP/2 clients at once: GOAWAY with the last stream it took, so
// in-flight streams finish and new requests go to a new connection (RFC 9113 §6.8).
asio::awaitable<void> Http2Connection::watch_drain() {
  while (!closed_) {
    drain_timer_.expires_after(kDrainCheck);
    auto [ec] = co_await drain_timer_.async_wait(use_tuple);
    if (ec || closed_) co_return;
    if (!worker_.host().draining() || goaway_sent_) continue;
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    want_write();
  }
}

void Http2Connection::stream_finished() {
  running_streams_--;
  done_wakeup_.trigger();
  want_write();
}

void Http2Connection::close_streams() {
  for (auto& [id, stream] : streams_) stream->connection_lost();
}

void Http2Connection::refuse(const char* why) {
  if (refused_) return;  // said once; nghttp2 ignores what follows its GOAWAY
  refused_ = true;
  spdlog::warn("HTTP/2 client {}:{} {}: GOAWAY ENHANCE_YOUR_CALM", connection_.remote_ip,
               connection_.remote_port, why);
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  goaway_sent_ = true;
}

Http2Stream* Http2Connection::stream(int32_t id) {
  return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session_, id));
}

int Http2Connection::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
  auto& c = self(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  // A stream the client reset leaves nghttp2's count of open streams at once, but its request may
  // still wait for the upstream: without this bound, opening and resetting streams within the
  // reset budget would pile up work. Refused streams may be retried (RFC 9113 §8.7).
  if (c.running_streams_ >= kRunningStreamsPerLimit * static_cast<int>(c.limits_.max_concurrent_streams)) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;  // no stream object: its header fields and DATA are dropped
  }
  auto stream = std::make_shared<Http2Stream>(c, frame->hd.stream_id);
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream.get());
  c.streams_.emplace(frame->hd.stream_id, std::move(stream));
  return 0;
}

int Http2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name,
                               nghttp2_rcbuf* value, uint8_t, void* user_data) {
  auto& c = self(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers
  if (auto* stream = c.stream(frame->hd.stream_id)) stream->add_header(view(name), view(value));
  return 0;
}

// Counts frames before they are processed: control frames against their bucket, CONTINUATION
// frames (nghttp2 also caps them: max_continuations).
int Http2Connection::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
  auto& c = self(user_data);
  const bool control = (hd->type == NGHTTP2_SETTINGS && !(hd->flags & NGHTTP2_FLAG_ACK)) ||
                       (hd->type == NGHTTP2_PING && !(hd->flags & NGHTTP2_FLAG_ACK));
  if (control && !c.control_frames_.take(c.limits_.control_burst, c.limits_.control_per_second)) {
    c.refuse("sent too many SETTINGS/PING frames");
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

int Http2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  auto& c = self(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_RST_STREAM:
      // CVE-2023-44487: streams opened and reset at once cost the server work and the client
      // nothing. Past the bucket the connection ends.
      if (!c.resets_.take(c.limits_.resets_burst, c.limits_.resets_per_second)) {
        c.refuse("reset too many streams");
        return 0;
      }
      break;
    case NGHTTP2_HEADERS: {
      auto* stream = c.stream(frame->hd.stream_id);
      if (!stream) break;
      const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (!stream->finish_head(end_stream)) break;
        c.running_streams_++;
        asio::co_spawn(
            c.client_.get_executor(), [keep = stream->shared_from_this()] { return keep->run(); },
            asio::detached);
      } else if (end_stream) {
        stream->end_body();  // trailers end the body
      }
      break;
    }
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        if (auto* stream = c.stream(frame->hd.stream_id)) stream->end_body();
      break;
    default:
      break;
  }
  return 0;
}

int Http2Connection::on_data_chunk_recv(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                                        size_t len, void* user_data) {
  auto& c = self(user_data);
  if (auto* stream = c.stream(stream_id))
    stream->add_body({reinterpret_cast<const char*>(data), len});
  else
    nghttp2_session_consume_connection(c.session_, len);  // nobody will read them
  return 0;
}

int Http2Connection::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                                     void* user_data) {
  auto& c = self(user_data);
  const auto it = c.streams_.find(stream_id);
  if (it == c.streams_.end()) return 0;
  it->second->closed(error_code);
  c.streams_.erase(it);  // its coroutine, if still running, keeps it alive
  // Idle again: the idle timeout applies to the read that is waiting.
  if (c.streams_.empty() && !c.closed_) c.read_deadline_.arm(c.limits_.keepalive, c.client_);
  return 0;
}

}  // namespace gh::proxy
