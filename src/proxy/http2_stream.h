// One HTTP/2 stream as the request runloop sees it (a ClientSide): its request head decoded from
// HEADERS, its body from DATA frames (flow control: the window reopens only as the runloop takes
// the bytes, so a stream holds at most its window unread), its response as HEADERS and DATA
// (at most Http2Limits::response_buffer bytes wait for the client's window; a client that keeps
// its window shut is cut at send_timeout) and trailers as a last HEADERS frame. Body bytes can be
// received while the response goes out (gRPC streaming): each direction has its own wake-up.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/parser.h"
#include "net/deadline.h"
#include "proxy/client_side.h"
#include "proxy/http2_connection.h"
#include "proxy/request_runloop.h"

namespace gh::proxy {

class Http2Stream final : public ClientSide, public std::enable_shared_from_this<Http2Stream> {
 public:
  Http2Stream(Http2Connection& connection, int32_t id);

  // --- Fed by the connection (from nghttp2's callbacks) ---
  void add_header(std::string_view name, std::string_view value);
  // The header block ended: the request head is complete (or refused). False: nothing to run.
  bool finish_head(bool end_stream);
  void add_body(std::string_view bytes);
  void end_body();
  // nghttp2 closed the stream (answered, reset by either side, or the connection ended).
  void closed(uint32_t error_code);
  // The connection is going away: every wait ends.
  void connection_lost();
  // Its request lifecycle, then the wait for the response's last bytes to leave.
  boost::asio::awaitable<void> run();

  // --- ClientSide ---
  bool body_done() const override { return body_done_; }
  bool body_malformed() const override { return false; }  // nghttp2 resets a stream whose body breaks
  std::string body_error() const override { return {}; }
  BodyFeed take_body(std::vector<std::string_view>& pieces) override;
  boost::asio::awaitable<bool> receive_body(uint64_t& received) override;
  boost::asio::awaitable<bool> send_continue_if_expected() override;
  HeaderSink& start_response(int status, std::string_view reason) override;
  void frame_response(const ResponseFraming& framing) override;
  boost::asio::awaitable<bool> send_head(std::vector<boost::asio::const_buffer>& body, bool last,
                                         RequestContext& ctx) override;
  boost::asio::awaitable<bool> send_body(std::vector<boost::asio::const_buffer>& body, bool last,
                                         RequestContext& ctx) override;
  Outcome response_outcome() const override { return usable() ? Outcome::keep_alive : Outcome::close; }
  bool supports_upgrade() const override { return false; }  // RFC 9113 §8.6: no Upgrade in HTTP/2
  boost::asio::awaitable<void> tunnel(net::ByteStream& upstream, RequestContext& ctx,
                                      net::SpliceLimits limits) override;
  void set_trailers(std::vector<std::pair<std::string, std::string>> fields) override;
  bool full_duplex() const override { return true; }
  bool alive() const override { return usable(); }
  void stop_receiving() override;

 private:
  // Response headers as HTTP/2 wants them: lower-case names, no connection-specific fields.
  class ResponseHeaders final : public HeaderSink {
   public:
    void add(std::string_view name, std::string_view value) override;
    std::vector<std::pair<std::string, std::string>> fields;
  };
  static ssize_t read_response_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                                    uint32_t* flags, nghttp2_data_source* source, void*);
  bool submit_trailers(nghttp2_session* session, int32_t stream_id);
  bool usable() const { return !closed_ && !reset_sent_ && connection_.alive(); }
  void queue_body(const std::vector<boost::asio::const_buffer>& body, bool last, RequestContext& ctx);
  boost::asio::awaitable<bool> wait_for_window();
  void release_unread_body();
  boost::asio::awaitable<void> drain_body();

  Http2Connection& connection_;
  const int32_t id_;
  net::Deadline deadline_;  // the upstream exchange's
  Wakeup wakeup_;           // response bytes left, or the stream closed
  Wakeup body_wakeup_;      // request body bytes arrived, or the stream closed
  bool body_wait_stopped_ = false;
  RequestRunloop runloop_;
  http::RequestHead head_;
  uint64_t head_bytes_ = 0;  // the decoded header list's size (RFC 9113 §6.5.2)
  bool head_too_large_ = false;
  bool head_invalid_ = false;
  std::string authority_;
  std::string scheme_;
  // Request body: bytes received and not yet taken; the bytes last taken (the views' storage).
  std::string body_in_;
  std::string body_taken_;
  uint64_t body_unreported_ = 0;  // received since the last receive_body, for $request_length
  uint64_t body_unconsumed_ = 0;  // received but the window not yet reopened for them
  bool body_done_ = false;
  bool wants_continue_ = false;
  // Response.
  ResponseHeaders response_headers_;
  int status_ = 0;
  bool no_body_ = false;
  std::string body_out_;  // waiting for the client's window
  size_t body_out_sent_ = 0;
  bool body_out_last_ = false;
  std::vector<std::pair<std::string, std::string>> trailers_;  // sent after the last DATA frame
  bool closed_ = false;
  bool reset_sent_ = false;  // we reset it (its RST_STREAM may not be out yet)
  bool response_complete_ = false;
};

}  // namespace gh::proxy
