// One HTTP/1.1 client connection: reads request heads (keep-alive, pipelined), runs each request
// through the request runloop, and frames what the runloop sends (Content-Length or chunked,
// Connection: close, 100 Continue), or after a 101 becomes a tunnel. Runs as one coroutine on its
// worker's io_context; nothing in here is shared with other threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <deque>
#include <string>
#include <vector>

#include "http/parser.h"
#include "net/buffer.h"
#include "net/byte_stream.h"
#include "net/deadline.h"
#include "proxy/client_side.h"
#include "proxy/request_runloop.h"
#include "proxy/upstream_headers.h"
#include "proxy/worker.h"

namespace gh::proxy {

class Http1Connection final : public ClientSide {
 public:
  // `stream` is a plain TCP connection or a TLS one whose handshake is done (`tls` says what it
  // established; every request of the connection starts from its kong.ctx.shared).
  // `received`: bytes already read from the connection (by a protocol sniff), parsed first.
  Http1Connection(Worker& worker, net::ByteStream stream, uint16_t server_port, ConnectionTls tls = {},
                  std::string_view received = {});
  ~Http1Connection();
  Http1Connection(const Http1Connection&) = delete;
  Http1Connection& operator=(const Http1Connection&) = delete;
  boost::asio::awaitable<void> run();

  // ClientSide
  bool body_done() const override { return request_body_done_; }
  bool body_malformed() const override { return parser_.error() != http::ParseError::none; }
  std::string body_error() const override { return parser_.error_reason(); }
  BodyFeed take_body(std::vector<std::string_view>& pieces) override;
  boost::asio::awaitable<bool> receive_body(uint64_t& received) override;
  boost::asio::awaitable<bool> send_continue_if_expected() override;
  HeaderSink& start_response(int status, std::string_view reason) override;
  void frame_response(const ResponseFraming& framing) override;
  boost::asio::awaitable<bool> send_head(std::vector<boost::asio::const_buffer>& body, bool last,
                                         RequestContext& ctx) override;
  boost::asio::awaitable<bool> send_body(std::vector<boost::asio::const_buffer>& body, bool last,
                                         RequestContext& ctx) override;
  Outcome response_outcome() const override { return keep_alive_ ? Outcome::keep_alive : Outcome::close; }
  bool supports_upgrade() const override { return true; }
  boost::asio::awaitable<void> tunnel(net::ByteStream& upstream, RequestContext& ctx,
                                      net::SpliceLimits limits) override;

 private:
  boost::asio::awaitable<bool> read_request_head();
  boost::asio::awaitable<void> respond_without_request(int status);
  // Adds `body` to out_ (chunk-framed when the response is chunked; its end with `last`).
  void frame_body(std::vector<boost::asio::const_buffer>& body, bool last);
  boost::asio::awaitable<bool> write_client(RequestContext& ctx);

  Worker& worker_;
  net::ByteStream client_;
  ClientConnection connection_;
  net::Deadline deadline_;
  http::Parser parser_;
  net::Buffer in_;
  std::string head_out_;
  HeadLinesSink head_lines_{head_out_};
  std::vector<boost::asio::const_buffer> out_;
  std::deque<std::string> chunk_prefixes_;  // deque: growing it never moves the strings out_ points at
  RequestRunloop runloop_;
  bool first_request_ = true;
  uint64_t request_head_bytes_ = 0;  // the current request's head as read
  bool request_body_done_ = false;
  bool client_wants_continue_ = false;
  // The response being written: its body chunk-framed; the connection kept after it.
  bool chunked_ = false;
  bool keep_alive_ = false;
  bool close_after_head_ = false;  // the head says Connection: close
};

}  // namespace gh::proxy
