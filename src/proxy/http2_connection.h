// One HTTP/2 client connection (RFC 9113), over TLS with ALPN "h2" or in cleartext with prior
// knowledge (h2c), framed by libnghttp2. Each stream is an Http2Stream running the same request
// runloop as HTTP/1.1 (plugins, routing, proxying to HTTP/1.1 upstreams). One reader coroutine
// feeds nghttp2, one writer coroutine sends what it produces, each stream runs in its own.
// Everything runs on the worker's thread: nghttp2 is never entered from two places at once.
// Limits and the defences against the known HTTP/2 attacks: docs/http2.md.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "net/byte_stream.h"
#include "net/deadline.h"
#include "proxy/request_runloop.h"
#include "proxy/worker.h"

namespace gh::proxy {

class Http2Stream;

// A wake-up a coroutine waits for (with a timeout) and others trigger; a trigger that comes
// before the wait is kept. Single-threaded, like everything on a worker.
class Wakeup {
 public:
  explicit Wakeup(boost::asio::any_io_executor executor) : timer_(executor) {}
  // True when triggered, false when `timeout` passed first.
  boost::asio::awaitable<bool> wait(std::chrono::steady_clock::duration timeout);
  void trigger();

 private:
  boost::asio::steady_timer timer_;
  bool triggered_ = false;
  bool waiting_ = false;
};

// The connection's limits: what it announces in SETTINGS and what it enforces.
struct Http2Limits {
  uint32_t max_concurrent_streams = 128;    // nginx http2_max_concurrent_streams
  uint32_t initial_window = 64 * 1024;      // per stream: the request body bytes held unread
  int32_t connection_window = 1024 * 1024;  // all streams' unread request body bytes together
  uint32_t max_header_list = 32 * 1024;     // decoded header block (as HTTP/1.1's head limit)
  size_t max_continuations = 8;             // CONTINUATION frames after one HEADERS
  size_t response_buffer = 64 * 1024;       // per stream: response bytes waiting for the window
  // Token buckets (burst, per second): past them the client gets GOAWAY ENHANCE_YOUR_CALM.
  double resets_burst = 100, resets_per_second = 20;    // RST_STREAM from the client (CVE-2023-44487)
  double control_burst = 100, control_per_second = 20;  // SETTINGS and PING frames
  // nginx's client timeouts (kong.conf nginx_http_* / nginx_proxy_*).
  std::chrono::seconds client_header{60}, keepalive{60}, client_body{60}, send{60};
};

// The byte sequence every HTTP/2 connection starts with (RFC 9113 §3.4).
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class Http2Connection {
 public:
  // `received`: bytes already read from the connection (the sniffed preface of an h2c one).
  Http2Connection(Worker& worker, net::ByteStream stream, uint16_t server_port, ConnectionTls tls = {},
                  std::string_view received = {});
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;
  boost::asio::awaitable<void> run();

  // --- For its streams ---
  nghttp2_session* session() { return session_; }
  ClientConnection& connection() { return connection_; }
  Worker& worker() { return worker_; }
  const Http2Limits& limits() const { return limits_; }
  bool alive() const { return !closed_; }
  void want_write() { writer_wakeup_.trigger(); }
  void stream_finished();  // a stream's coroutine ended

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
    bool take(double burst, double per_second);
  };

  void start_session();
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> watch_drain();
  void close_streams();
  void refuse(const char* why);  // GOAWAY ENHANCE_YOUR_CALM
  Http2Stream* stream(int32_t id);

  // nghttp2 callbacks (user_data is the connection).
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_header(nghttp2_session*, const nghttp2_frame*, nghttp2_rcbuf* name, nghttp2_rcbuf* value,
                       uint8_t flags, void*);
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd*, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk_recv(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                                size_t len, void*);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void*);

  Worker& worker_;
  net::ByteStream client_;
  ClientConnection connection_;
  Http2Limits limits_;
  nghttp2_session* session_ = nullptr;
  std::string received_;
  net::Deadline read_deadline_;
  net::Deadline write_deadline_;
  Wakeup writer_wakeup_;
  Wakeup done_wakeup_;  // a stream coroutine or the writer ended
  boost::asio::steady_timer drain_timer_;
  std::map<int32_t, std::shared_ptr<Http2Stream>> streams_;  // open in nghttp2
  int running_streams_ = 0;                                  // stream coroutines not yet ended
  bool writer_running_ = false;
  bool watcher_running_ = false;
  bool closed_ = false;  // the socket failed or the session ended: no more I/O
  bool goaway_sent_ = false;
  bool refused_ = false;  // GOAWAY ENHANCE_YOUR_CALM sent
  Bucket resets_;
  Bucket control_frames_;
  size_t continuations_ = 0;  // CONTINUATION frames since the last HEADERS
};

}  // namespace gh::proxy
