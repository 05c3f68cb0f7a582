// One client connection: reads requests (keep-alive, pipelined), routes them, proxies them to
// the upstream with streaming bodies in both directions, and logs them. Runs as one coroutine
// on its worker's io_context; nothing in here is shared with other threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/request_context.h"
#include "http/parser.h"
#include "net/buffer.h"
#include "net/byte_stream.h"
#include "net/deadline.h"
#include "net/upstream_pool.h"
#include "plugins/plugin_set.h"
#include "proxy/request_body.h"
#include "proxy/upstream_headers.h"
#include "proxy/worker.h"

namespace gh::proxy {

// What a connection's TLS handshake established (all empty for plain HTTP).
struct ConnectionTls {
  std::string server_name;    // the SNI the client sent
  std::string protocol;       // "TLSv1.3", ...
  nlohmann::json ctx_shared;  // kong.ctx.shared as the certificate phase left it (null: untouched)
  std::shared_ptr<const tls::ClientCertificate> client_certificate;  // null: the client sent none
};

class HttpSession {
 public:
  // `stream` is a plain TCP connection or a TLS one whose handshake is done (`tls` says what it
  // established; every request of the connection starts from its kong.ctx.shared).
  HttpSession(Worker& worker, net::ByteStream stream, uint16_t server_port, ConnectionTls tls = {});
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  boost::asio::awaitable<void> run();

 private:
  enum class Outcome { keep_alive, close };
  // Why talking to the upstream failed, for status codes and retries.
  enum class UpstreamError {
    none,
    connect_refused,
    connect_timeout,
    resolve,
    write,
    read_timeout,
    bad_response,
    closed_early,     // the upstream: closed before any response byte; stream_rest_of_body: the client
    body_too_large,   // the client's (chunked) body went over client_max_body_size: 413
    bad_request_body  // the client's body broke its framing while streamed: 400
  };
  static upstream::Result passive_result(UpstreamError error);

  boost::asio::awaitable<bool> read_request_head();
  boost::asio::awaitable<void> respond_without_request(int status);
  boost::asio::awaitable<Outcome> handle_request(RequestContext& ctx);
  void prepare_context(RequestContext& ctx);
  const std::shared_ptr<const Snapshot>& current_snapshot();
  void start_upstream_request(RequestContext& ctx);
  void prepare_upstream_request(RequestContext& ctx);
  void materialize_upstream_headers(RequestContext& ctx, bool rewritten);
  // While alive (the access phase), a plugin's first upstream header edit builds the list
  // (session null: nothing to build). Unset on exit: the context outlives this scope.
  class HeadersOnDemand {
   public:
    HeadersOnDemand(RequestContext& ctx, HttpSession* session) : ctx_(ctx) {
      if (session)
        ctx.upstream.materialize_headers = [session, &ctx] {
          session->materialize_upstream_headers(ctx, false);
        };
    }
    ~HeadersOnDemand() { ctx_.upstream.materialize_headers = nullptr; }
    HeadersOnDemand(const HeadersOnDemand&) = delete;
    HeadersOnDemand& operator=(const HeadersOnDemand&) = delete;

   private:
    RequestContext& ctx_;
  };
  ForwardingInputs forwarding_inputs(const RequestContext& ctx) const;
  bool peer_is_trusted(const conf::Properties& props) const;
  std::string real_client_ip(const RequestContext& ctx) const;

  // Upstream side.
  boost::asio::awaitable<Outcome> proxy(RequestContext& ctx);
  boost::asio::awaitable<UpstreamError> read_response_head(net::UpstreamConnection& conn, RequestContext& ctx,
                                                           bool head_request);
  std::unique_ptr<net::UpstreamConnection> take_pooled(RequestContext& ctx,
                                                       const std::vector<boost::asio::ip::address>& addresses,
                                                       uint16_t port);
  boost::asio::awaitable<UpstreamError> connect(RequestContext& ctx, const std::string& host, uint16_t port,
                                                std::unique_ptr<net::UpstreamConnection>& out);
  // TLS to upstreams (protocol: https).
  std::string upstream_tls_key(const RequestContext& ctx) const;
  std::string upstream_server_name(const RequestContext& ctx) const;
  std::unique_ptr<net::UpstreamConnection> new_upstream_connection(const RequestContext& ctx);
  boost::asio::awaitable<bool> upstream_handshake(RequestContext& ctx, net::UpstreamConnection& conn);
  boost::asio::awaitable<bool> collect_available_body(std::string& body);
  // Parses the request body bytes already read, handing each piece to `sink(std::string_view)`
  // (false: stop, the piece could not be kept).
  enum class BodyFeed { need_more, complete, malformed, sink_failed };
  template <class Sink>
  BodyFeed take_available_body(Sink&& sink);
  void serialize_upstream_head(const RequestContext& ctx, bool chunked, size_t content_length,
                               std::string& out) const;
  // `sent`: the body bytes already forwarded with the head (they count towards client_max_body_size).
  boost::asio::awaitable<UpstreamError> stream_rest_of_body(net::UpstreamConnection& conn,
                                                            RequestContext& ctx, bool chunked, uint64_t sent);
  // One step of reading the upstream response body (the loop of forward_response and buffer_response).
  enum class BodyPart { more, last, last_at_eof, malformed, failed };
  struct BodyRead {
    BodyPart part;
    std::span<const std::string_view> pieces;  // the new body bytes (none for last_at_eof)
    boost::system::error_code error;           // failed: why (deadline_.expired(): a timeout)
  };
  boost::asio::awaitable<BodyRead> next_upstream_body_part(net::UpstreamConnection& conn,
                                                           const RequestContext& ctx, http::Parser& parser);
  boost::asio::awaitable<Outcome> buffer_response(std::unique_ptr<net::UpstreamConnection> conn,
                                                  RequestContext& ctx, http::Parser& parser);
  boost::asio::awaitable<Outcome> refuse_large_response(RequestContext& ctx, uint64_t max_size);
  boost::asio::awaitable<Outcome> forward_response(std::unique_ptr<net::UpstreamConnection> conn,
                                                   RequestContext& ctx, http::Parser& parser);
  boost::asio::awaitable<Outcome> switch_protocols(std::unique_ptr<net::UpstreamConnection> conn,
                                                   RequestContext& ctx);

  // Client side.
  boost::asio::awaitable<Outcome> respond(RequestContext& ctx, int status, std::string_view message);
  boost::asio::awaitable<Outcome> send_gateway_response(RequestContext& ctx, bool proxied = false);
  // Reading the whole request body before proxying (request_buffering, or a plugin asked for it).
  enum class BodyOutcome { complete, too_large, malformed, client_gone, storage_failed };
  boost::asio::awaitable<BodyOutcome> read_whole_request_body(RequestContext& ctx);
  boost::asio::awaitable<BodyOutcome> spool_request_body(RequestContext& ctx);
  boost::asio::awaitable<bool> read_body_for_plugin(RequestContext& ctx);
  boost::asio::awaitable<Outcome> refuse_request_body(RequestContext& ctx, BodyOutcome outcome);
  boost::asio::awaitable<bool> send_continue_if_expected();
  boost::asio::awaitable<bool> send_spooled_body(net::UpstreamConnection& conn, RequestContext& ctx,
                                                 const SpooledBody& body);
  // Plugins: run a phase; true when a plugin (or a plugin failure) produced the response.
  boost::asio::awaitable<bool> run_phase(RequestContext& ctx, core::Phase phase,
                                         const std::vector<const plugins::ConfiguredPlugin*>& list);
  boost::asio::awaitable<void> run_log_phase(RequestContext& ctx);
  boost::asio::awaitable<bool> write_client(std::vector<boost::asio::const_buffer>& buffers,
                                            RequestContext& ctx);
  boost::asio::awaitable<bool> discard_request_body();
  boost::asio::awaitable<Outcome> refuse_bad_request_body(RequestContext& ctx);
  bool request_body_malformed() const { return parser_.error() != http::ParseError::none; }
  void add_gateway_headers(std::string& out, const RequestContext& ctx, bool proxied) const;
  void finish(RequestContext& ctx);

  Worker& worker_;
  net::ByteStream client_;
  ConnectionTls tls_;
  uint16_t server_port_;
  std::shared_ptr<const Snapshot> snapshot_;  // the configuration as of snapshot_version_
  uint64_t snapshot_version_ = 0;
  boost::asio::ip::address peer_address_;
  std::string remote_ip_;
  uint16_t remote_port_ = 0;
  net::Deadline deadline_;
  http::Parser parser_;
  http::Parser upstream_parser_;
  net::Buffer in_;
  net::Buffer upstream_in_;
  std::string head_out_;
  std::vector<boost::asio::const_buffer> out_;
  std::deque<std::string> chunk_prefixes_;  // deque: growing it never moves the strings out_ points at
  std::vector<const plugins::ConfiguredPlugin*> response_plugins_;  // non-empty: buffer the response
  // The log-phase plugins the access phase's collection resolved (unset: no access phase ran).
  std::optional<std::vector<const plugins::ConfiguredPlugin*>> log_plugins_;
  // This request's response went out as it came (forward_response): its headers are those of
  // upstream_parser_ until the next request, for the log phase.
  bool response_streamed_ = false;
  bool first_request_ = true;
  // This request is a WebSocket handshake (tunnel.h): forwarded with Upgrade, a 101 starts a tunnel,
  // any other answer closes the connection.
  bool websocket_ = false;
  uint64_t request_head_bytes_ = 0;  // the current request's head as read
  bool request_body_done_ = false;
  // A chunked body went over client_max_body_size while a plugin read it: 413, never forwarded.
  bool request_body_too_large_ = false;
  bool client_wants_continue_ = false;
  // The request body read whole, when it went to a temporary file (removed with it).
  std::unique_ptr<SpooledBody> request_body_;
  std::optional<BodyOutcome> request_body_read_;  // set once the body was read whole (or that failed)
};

}  // namespace gh::proxy
