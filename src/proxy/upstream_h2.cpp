#include "proxy/upstream_h2.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cstring>
#include <vector>

#include "common/log.h"
#include "common/strings.h"
#include "http/kong_responses.h"
#include "proxy/http2_connection.h"
#include "proxy/request_runloop.h"
#include "proxy/upstream_headers.h"

namespace gh::proxy {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kLongWait = std::chrono::hours(24);  // a helper's wait: always ended by a trigger

nghttp2_nv field(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

std::string_view view(nghttp2_rcbuf* buf) {
  const auto b = nghttp2_rcbuf_get_buf(buf);
  return {reinterpret_cast<const char*>(b.base), b.len};
}

// RFC 9113 §8.2.2: fields an HTTP/2 request must not carry (Host becomes :authority; TE is
// added as "trailers", which gRPC servers require).
bool not_for_h2(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" || lower_name == "proxy-connection" ||
         lower_name == "transfer-encoding" || lower_name == "upgrade" || lower_name == "host" ||
         lower_name == "te" || lower_name == "content-length";
}

// The upstream request's header fields for nghttp2: lower-case names, Host kept apart.
class H2RequestFields final : public HeaderSink {
 public:
  void add(std::string_view name, std::string_view value) override {
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "host" && authority.empty()) authority = value;
    if (not_for_h2(lower)) return;
    fields.emplace_back(std::move(lower), std::string(value));
  }
  std::string authority;
  std::vector<std::pair<std::string, std::string>> fields;
};

}  // namespace

std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  int64_t amount = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    amount = amount * 10 + (c - '0');
  }
  using namespace std::chrono;
  switch (value.back()) {
    case 'H':
      return duration_cast<nanoseconds>(hours(amount));
    case 'M':
      return duration_cast<nanoseconds>(minutes(amount));
    case 'S':
      return duration_cast<nanoseconds>(seconds(amount));
    case 'm':
      return duration_cast<nanoseconds>(milliseconds(amount));
    case 'u':
      return duration_cast<nanoseconds>(microseconds(amount));
    case 'n':
      return nanoseconds(amount);
    default:
      return std::nullopt;
  }
}

// One request's HTTP/2 call: its connection, nghttp2 session and what each side produced.
struct UpstreamH2::Call {
  Call(asio::any_io_executor executor, const UpstreamH2Limits& limits)
      : limits(limits), events(executor), writes(executor), room(executor), write_deadline(executor) {}
  const UpstreamH2Limits& limits;
  std::unique_ptr<net::UpstreamConnection> conn;
  nghttp2_session* session = nullptr;
  int32_t stream_id = -1;
  Wakeup events;  // the owner: response parts, the stream's end, a failure, a helper ended
  Wakeup writes;  // the writer: nghttp2 has frames to send
  Wakeup room;    // the pump: request bytes left for the upstream
  net::Deadline write_deadline;
  std::optional<Clock::time_point> deadline;  // grpc-timeout
  std::chrono::milliseconds write_timeout{60000};
  RequestContext* ctx = nullptr;
  ClientSide* client = nullptr;
  // The request body: a plugin's or a buffered one (fixed), a temporary file, or the client's stream.
  std::string request_out;
  size_t request_sent = 0;
  bool request_last = false;
  const SpooledBody* body_file = nullptr;
  uint64_t file_offset = 0;
  bool streaming = false;
  uint64_t streamed = 0;
  // The response.
  int status = 0;
  http::Headers headers;
  http::Headers trailers;
  uint64_t head_bytes = 0;
  bool head_done = false;
  bool remote_ended = false;  // END_STREAM from the upstream
  std::string data;           // DATA received, not yet relayed
  bool stream_closed = false;
  uint32_t close_code = 0;
  // How it went wrong.
  bool failed = false;  // the connection broke or nghttp2 refused what arrived
  bool head_too_large = false;
  bool client_gone = false;
  bool body_too_large = false;
  bool finished = false;  // the owner is done: helpers stop
  int running = 0;        // helper coroutines not yet ended

  size_t request_pending() const { return request_out.size() - request_sent; }
  void fail() {
    failed = true;
    events.trigger();
  }

  bool start_session();
  void spawn(asio::awaitable<void> work);
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> pump();
  bool fill_from_file();
  void queue_request_bytes(std::string_view bytes);

  static int on_header(nghttp2_session*, const nghttp2_frame*, nghttp2_rcbuf* name, nghttp2_rcbuf* value,
                       uint8_t flags, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk_recv(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                                size_t len, void*);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void*);
  static ssize_t read_request_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                                   uint32_t* flags, nghttp2_data_source* source, void*);
};

bool UpstreamH2::Call::start_session() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback2(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // The window reopens as the client takes the bytes: the upstream is read no faster than that.
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_max_send_header_block_length(option, 64 * 1024);
  const int rv = nghttp2_session_client_new2(&session, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) return false;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(limits.stream_window)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list},
  };
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, limits.connection_window);
  return true;
}

// A helper coroutine, counted until it ends (the owner waits for all before the call goes).
void UpstreamH2::Call::spawn(asio::awaitable<void> work) {
  running++;
  asio::co_spawn(conn->socket.get_executor(), std::move(work), [this](std::exception_ptr) {
    running--;
    events.trigger();
  });
}

asio::awaitable<void> UpstreamH2::Call::read_loop() {
  std::vector<uint8_t> buffer(16 * 1024);
  while (!finished) {
    auto [ec, n] = co_await conn->stream.read_some(asio::buffer(buffer));
    if (finished) break;
    if (ec) {
      spdlog::debug("upstream {} HTTP/2 connection: {}", ctx->upstream_addr, ec.message());
      fail();
      break;
    }
    const auto rv = nghttp2_session_mem_recv(session, buffer.data(), n);
    if (rv < 0) {
      spdlog::error("upstream {} sent invalid HTTP/2: {}", ctx->upstream_addr,
                    nghttp2_strerror(static_cast<int>(rv)));
      fail();
      break;
    }
    writes.trigger();  // SETTINGS and PING acknowledgements, window updates
  }
}

asio::awaitable<void> UpstreamH2::Call::write_loop() {
  std::string pending;
  while (!finished) {
    pending.clear();
    while (pending.size() < 64 * 1024) {
      const uint8_t* bytes = nullptr;
      const auto n = nghttp2_session_mem_send(session, &bytes);
      if (n < 0) {
        spdlog::error("upstream {}: HTTP/2 session failed: {}", ctx->upstream_addr,
                      nghttp2_strerror(static_cast<int>(n)));
        fail();
        co_return;
      }
      if (n == 0) break;
      pending.append(reinterpret_cast<const char*>(bytes), static_cast<size_t>(n));
    }
    if (pending.empty()) {
      co_await writes.wait(kLongWait);
      continue;
    }
    write_deadline.arm(write_timeout, conn->socket);
    auto [ec, written] = co_await conn->stream.write(asio::buffer(pending));
    write_deadline.disarm();
    if (finished) break;
    if (ec) {
      spdlog::error("upstream {} failed while sending the request: {}", ctx->upstream_addr,
                    write_deadline.expired() ? "timed out" : ec.message());
      fail();
      break;
    }
    if (request_pending() < limits.request_buffer) room.trigger();
  }
}

void UpstreamH2::Call::queue_request_bytes(std::string_view bytes) {
  if (request_sent == request_out.size()) {
    request_out.clear();
    request_sent = 0;
  } else if (request_sent >= limits.request_buffer) {
    request_out.erase(0, request_sent);
    request_sent = 0;
  }
  request_out.append(bytes);
}

// The next part of a request body kept in a temporary file; false when the file cannot be read.
bool UpstreamH2::Call::fill_from_file() {
  char buffer[16 * 1024];
  const size_t n = body_file->read_to_send(file_offset, buffer, sizeof buffer);
  if (n == 0) return false;
  file_offset += n;
  queue_request_bytes(std::string_view(buffer, n));
  request_last = file_offset == body_file->size();
  return true;
}

// Moves the request body to nghttp2 as the upstream's window and request_buffer allow: from the
// temporary file, or from the client as its bytes arrive (while the response may be streaming).
asio::awaitable<void> UpstreamH2::Call::pump() {
  const uint64_t limit = ctx->snapshot->properties.client_max_body_size;
  std::vector<std::string_view> pieces;
  while (!finished && !request_last) {
    if (request_pending() >= limits.request_buffer) {
      co_await room.wait(kLongWait);
      continue;
    }
    if (body_file) {
      if (!fill_from_file()) {
        fail();
        co_return;
      }
    } else {
      pieces.clear();
      const auto feed = client->take_body(pieces);
      for (auto piece : pieces) {
        streamed += piece.size();
        queue_request_bytes(piece);
      }
      if (limit > 0 && streamed > limit) {
        body_too_large = true;
        events.trigger();
        co_return;
      }
      request_last = feed == BodyFeed::complete;
    }
    nghttp2_session_resume_data(session, stream_id);
    writes.trigger();
    if (request_last || body_file) continue;
    const bool received = co_await client->receive_body(ctx->request_bytes);
    if (!received && !finished) {
      client_gone = true;
      events.trigger();
      co_return;
    }
  }
}

ssize_t UpstreamH2::Call::read_request_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                            uint32_t* flags, nghttp2_data_source* source, void*) {
  auto& call = *static_cast<Call*>(source->ptr);
  const size_t n = std::min(length, call.request_pending());
  std::memcpy(buf, call.request_out.data() + call.request_sent, n);
  call.request_sent += n;
  if (call.request_pending() == 0 && call.request_last) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (n == 0) {
    return NGHTTP2_ERR_DEFERRED;  // resumed by the pump
  }
  if (call.request_pending() < call.limits.request_buffer) call.room.trigger();
  return static_cast<ssize_t>(n);
}

int UpstreamH2::Call::on_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name_buf,
                                nghttp2_rcbuf* value_buf, uint8_t, void* user_data) {
  auto& call = *static_cast<Call*>(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != call.stream_id) return 0;
  const auto name = view(name_buf);
  const auto value = view(value_buf);
  // Each header block counted as SETTINGS_MAX_HEADER_LIST_SIZE counts; past it the call fails.
  call.head_bytes += name.size() + value.size() + 32;
  if (call.head_bytes > call.limits.max_header_list) {
    call.head_too_large = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the stream is reset
  }
  if (call.head_done) {  // a second block: trailers
    if (!name.starts_with(':')) call.trailers.add(std::string(name), std::string(value));
    return 0;
  }
  if (name == ":status") {
    int status = 0;
    for (char c : value) status = status * 10 + (c - '0');  // nghttp2 checked: three digits
    call.status = status;
  } else if (!name.starts_with(':')) {
    call.headers.add(std::string(name), std::string(value));
  }
  return 0;
}

int UpstreamH2::Call::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  auto& call = *static_cast<Call*>(user_data);
  if (frame->hd.stream_id != call.stream_id) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS) {
    call.head_bytes = 0;
    if (!call.head_done && call.status >= 100 && call.status < 200) {
      call.headers.clear();  // an interim response: the final one follows
      call.status = 0;
    } else {
      call.head_done = true;
    }
    if (call.ctx->upstream_first_byte == Clock::time_point{}) call.ctx->upstream_first_byte = Clock::now();
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    call.remote_ended = true;
  call.events.trigger();
  return 0;
}

int UpstreamH2::Call::on_data_chunk_recv(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                                         size_t len, void* user_data) {
  auto& call = *static_cast<Call*>(user_data);
  if (stream_id != call.stream_id) return 0;
  call.data.append(reinterpret_cast<const char*>(data), len);
  call.events.trigger();
  return 0;
}

int UpstreamH2::Call::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                                      void* user_data) {
  auto& call = *static_cast<Call*>(user_data);
  if (stream_id != call.stream_id) return 0;
  call.stream_closed = true;
  call.close_code = error_code;
  call.events.trigger();
  return 0;
}

UpstreamH2::UpstreamH2(RequestRunloop& runloop, Worker& worker, upstream::Connector& connector)
    : runloop_(runloop), client_(runloop.client()), worker_(worker), connector_(connector) {}

UpstreamH2::~UpstreamH2() = default;

asio::awaitable<Outcome> UpstreamH2::proxy(RequestContext& ctx) {
  const auto& req = *ctx.request;
  auto& state = runloop_.state();
  response_headers_.clear();
  if (state.body_too_large) co_return co_await runloop_.respond(ctx, 413, http::kong_default_message(413));
  if (!state.response_plugins.empty()) {
    // As Kong over HTTP/2: no buffered proxying, so no response phase (a gRPC stream may never end).
    spdlog::info("response buffering was turned off: gRPC upstream");
    state.response_plugins.clear();
  }
  Call call(worker_.io().get_executor(), limits_);
  call.ctx = &ctx;
  call.client = &client_;
  call.write_timeout = write_timeout(ctx);
  if (const auto timeout = req.headers.get("grpc-timeout"))
    if (const auto within = parse_grpc_timeout(*timeout))
      call.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(*within);

  // The body: a plugin's, one read whole already (a plugin read it, or a transport that cannot
  // receive while it answers), or the client's stream (gRPC streaming: never buffered, as nginx's
  // grpc_pass; request_buffering does not apply).
  if (ctx.upstream.body) {
    const bool discarded = co_await runloop_.discard_request_body();
    if (!discarded) co_return co_await runloop_.refuse_bad_request_body(ctx);
    call.request_out = *ctx.upstream.body;
    call.request_last = true;
  } else if (req.has_body() && (state.body_read || !client_.full_duplex())) {
    const auto read = co_await runloop_.read_whole_request_body(ctx);
    if (read != RequestRunloop::BodyOutcome::complete)
      co_return co_await runloop_.refuse_request_body(ctx, read);
    if (ctx.buffered_request_body) {
      call.request_out = *ctx.buffered_request_body;
      call.request_last = true;
    } else {
      call.body_file = state.body_file.get();
    }
  } else if (req.has_body()) {
    const bool continued = co_await client_.send_continue_if_expected();
    if (!continued) co_return Outcome::close;
    call.streaming = true;
  } else {
    call.request_last = true;
  }

  // A connection: nothing is sent before one stands, so every failure to make one can go on to
  // the next target.
  UpstreamTries tries(worker_.balancer(), worker_.host().upstreams(), ctx);
  const bool connected = co_await tries.connect(connector_, call.conn);
  if (!connected) {
    const auto answer = tries.answer();
    co_return co_await runloop_.respond(ctx, answer.status, answer.message);
  }
  const auto outcome = co_await exchange(call, ctx);
  if (call.head_done)
    tries.responded(call.status);
  else if (call.failed || call.stream_closed)
    tries.failed(UpstreamError::closed_early);
  co_return outcome;
}

// The request's headers and, unless it has no body, a data source the pump and nghttp2 share.
bool UpstreamH2::submit_request(Call& call, RequestContext& ctx) {
  const auto& up = ctx.upstream;
  H2RequestFields sink;
  up.headers.emit(ForwardedHeaders(runloop_, ctx), sink);
  std::string path = up.path.empty() ? "/" : up.path;
  if (!up.query.empty()) path += '?' + up.query;
  const std::string_view scheme = up.scheme == "grpcs" ? "https" : "http";
  const bool has_body = !(call.request_last && call.request_out.empty());
  std::string length;
  if (call.request_last)
    length = std::to_string(call.request_out.size());
  else if (call.body_file)
    length = std::to_string(call.body_file->size());
  else if (ctx.request->content_length)
    length = std::to_string(*ctx.request->content_length);

  std::vector<nghttp2_nv> fields;
  fields.reserve(sink.fields.size() + 7);
  fields.push_back(field(":method", up.method));
  fields.push_back(field(":scheme", scheme));
  fields.push_back(field(":authority", sink.authority.empty() ? std::string_view(up.host) : sink.authority));
  fields.push_back(field(":path", path));
  fields.push_back(field("te", "trailers"));
  if (!length.empty() && (has_body || !(up.method == "GET" || up.method == "HEAD")))
    fields.push_back(field("content-length", length));
  for (const auto& [name, value] : sink.fields) fields.push_back(field(name, value));

  nghttp2_data_provider provider{};
  provider.source.ptr = &call;
  provider.read_callback = Call::read_request_body;
  call.stream_id = nghttp2_submit_request(call.session, nullptr, fields.data(), fields.size(),
                                          has_body ? &provider : nullptr, nullptr);
  if (call.stream_id < 0) {
    spdlog::error("upstream {}: HTTP/2 request not sent: {}", ctx.upstream_addr,
                  nghttp2_strerror(call.stream_id));
    return false;
  }
  return true;
}

// Waits for the upstream (the service's read_timeout between its frames, grpc-timeout in all),
// noticing within a second a client that reset its stream.
asio::awaitable<UpstreamH2::Woke> UpstreamH2::wait_upstream(Call& call, RequestContext& ctx) {
  const auto idle_until = Clock::now() + read_timeout(ctx);
  while (true) {
    if (call.client_gone || !client_.alive()) co_return Woke::client_gone;
    const auto now = Clock::now();
    if (call.deadline && now >= *call.deadline) co_return Woke::deadline;
    if (now >= idle_until) co_return Woke::read_timeout;
    auto wait = std::min<Clock::duration>(idle_until - now, std::chrono::seconds(1));
    if (call.deadline) wait = std::min<Clock::duration>(wait, *call.deadline - now);
    const bool woke = co_await call.events.wait(wait);  // a local: GCC PR 106188 (tests/lint)
    if (woke) co_return Woke::event;
  }
}

asio::awaitable<Outcome> UpstreamH2::exchange(Call& call, RequestContext& ctx) {
  if (!call.start_session() || !submit_request(call, ctx)) {
    co_await finish(call);
    co_return co_await runloop_.respond(ctx, 502, http::kong_default_message(502));
  }
  call.spawn(call.read_loop());
  call.spawn(call.write_loop());
  if (call.streaming || call.body_file) call.spawn(call.pump());

  // The response head; until it is here the client can still get a proper error.
  int status = 0;
  std::string_view message;
  while (!call.head_done && !status) {
    if (call.head_too_large) {
      spdlog::error("upstream {} sent a response head over {} bytes", ctx.upstream_addr,
                    limits_.max_header_list);
      status = 502;
    } else if (call.body_too_large) {
      status = 413;
    } else if (call.failed || call.stream_closed) {
      if (call.stream_closed && !call.failed)
        spdlog::error("upstream {} reset the stream before responding: {}", ctx.upstream_addr,
                      nghttp2_http2_strerror(call.close_code));
      status = 502;
    }
    if (status) break;
    const auto woke = co_await wait_upstream(call, ctx);
    if (woke == Woke::client_gone) {
      co_await finish(call);
      co_return Outcome::close;
    }
    if (woke == Woke::read_timeout) {
      spdlog::error("upstream {} timed out while reading the response head", ctx.upstream_addr);
      status = 504;
    } else if (woke == Woke::deadline) {
      status = 504;
      message = "Deadline Exceeded";
    }
  }
  if (status) {
    co_await finish(call);
    ctx.upstream_status = call.status;
    co_return co_await runloop_.respond(ctx, status,
                                        message.empty() ? http::kong_default_message(status) : message);
  }
  const auto outcome = co_await relay_response(call, ctx);
  co_await finish(call);
  co_return outcome;
}

// The response relayed as it comes: the head at once (a server stream's first message may be far
// off), each DATA as it arrives, the upstream's trailers at the end.
asio::awaitable<Outcome> UpstreamH2::relay_response(Call& call, RequestContext& ctx) {
  ctx.upstream_status = call.status;
  ctx.response.status = call.status;
  response_headers_ = std::move(call.headers);
  const bool head_request = ctx.request->method == "HEAD";
  const bool trailers_only = call.remote_ended && call.data.empty();
  const bool no_body = head_request || status_has_no_body(call.status) || trailers_only;
  ResponseFraming framing;
  framing.no_body = no_body;
  framing.keep_alive = !worker_.host().draining();
  if (const auto length = response_headers_.get("content-length"); length && !no_body) {
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(length->data(), length->data() + length->size(), n);
    if (ec == std::errc() && end == length->data() + length->size()) framing.content_length = n;
  }
  HeaderSink& sink = client_.start_response(call.status, http::reason_phrase(call.status));
  add_proxied_headers(sink, response_headers_, ctx.response.headers);
  client_.frame_response(framing);
  runloop_.add_gateway_headers(sink, ctx);

  std::vector<asio::const_buffer> out;
  if (no_body) {
    const bool written = co_await client_.send_head(out, true, ctx);
    ctx.end = Clock::now();
    co_return written ? client_.response_outcome() : Outcome::close;
  }
  bool head_sent = false;
  std::string chunk;
  while (true) {
    chunk.clear();
    std::swap(chunk, call.data);
    if (!chunk.empty()) {
      nghttp2_session_consume(call.session, call.stream_id,
                              chunk.size());  // the upstream may send as much again
      call.writes.trigger();
    }
    const bool done = call.remote_ended && call.data.empty();
    bool deadline_passed = false;
    if (done && !call.trailers.empty()) {
      std::vector<std::pair<std::string, std::string>> trailers;
      for (const auto& t : call.trailers) trailers.emplace_back(t.name, t.value);
      client_.set_trailers(std::move(trailers));
    }
    out.clear();
    if (!chunk.empty()) out.emplace_back(asio::buffer(chunk));
    if (!chunk.empty() || done || !head_sent) {
      bool written = false;  // an if, not ?:, around the co_await (tests/lint/check_coroutines.py)
      if (head_sent)
        written = co_await client_.send_body(out, done, ctx);
      else
        written = co_await client_.send_head(out, done, ctx);
      if (!written) co_return Outcome::close;
      head_sent = true;
    }
    if (done) break;
    if (call.failed || call.stream_closed) {
      spdlog::error("upstream {} failed while sending the response body{}", ctx.upstream_addr,
                    call.stream_closed ? std::string(": ") + nghttp2_http2_strerror(call.close_code) : "");
      co_return Outcome::close;  // the head is gone: the client's stream is reset
    }
    if (!call.data.empty() || call.remote_ended) continue;
    const auto woke = co_await wait_upstream(call, ctx);
    if (woke == Woke::client_gone) co_return Outcome::close;
    if (woke == Woke::read_timeout) {
      spdlog::error("upstream {} timed out while sending the response body", ctx.upstream_addr);
      co_return Outcome::close;
    }
    if (woke == Woke::deadline) deadline_passed = true;
    if (deadline_passed) {
      // gRPC's answer for a call past its deadline, in trailers after what was relayed.
      client_.set_trailers({{"grpc-status", "4"}, {"grpc-message", "Deadline Exceeded"}});
      out.clear();
      const bool written = co_await client_.send_body(out, true, ctx);
      ctx.end = Clock::now();
      co_return written ? client_.response_outcome() : Outcome::close;
    }
  }
  ctx.end = Clock::now();
  co_return client_.response_outcome();
}

// Ends the call: the helpers stop (the socket closed under the reader and the writer, the
// client's body wait ended) and are waited for, then the session goes. The upstream connection
// is never reused: closing it also ends its stream.
asio::awaitable<void> UpstreamH2::finish(Call& call) {
  call.finished = true;
  boost::system::error_code ignored;
  if (call.conn) call.conn->socket.close(ignored);
  client_.stop_receiving();
  call.writes.trigger();
  call.room.trigger();
  while (call.running > 0) (void)co_await call.events.wait(std::chrono::seconds(1));
  call.write_deadline.stop();
  if (call.session) nghttp2_session_del(call.session);
  call.session = nullptr;
}

}  // namespace gh::proxy
