// One request's lifecycle, whatever transport carries it (client_side.h): context, rewrite
// phase, routing, access phase, the request body when someone needs it whole, proxying (the
// upstream exchange) or the gateway's own answer, then the access log and the log phase. An
// HTTP/1.1 connection runs its requests through one runloop, one after the other; an HTTP/2
// connection gives each stream its own.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/request_context.h"
#include "net/deadline.h"
#include "plugins/plugin_set.h"
#include "proxy/client_side.h"
#include "proxy/request_body.h"
#include "proxy/upstream_exchange.h"
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

// What every request of one client connection shares: who the peer is, where it connected,
// its TLS, and the configuration snapshot the connection last used.
class ClientConnection {
 public:
  ClientConnection(Worker& worker, const boost::asio::ip::tcp::socket& socket, uint16_t server_port, bool tls,
                   ConnectionTls tls_facts);

  Worker& worker;
  const uint16_t server_port;
  const bool is_tls;
  const ConnectionTls tls;
  boost::asio::ip::address peer_address;
  std::string remote_ip;
  uint16_t remote_port = 0;

  // The current snapshot, re-read only when the gateway swapped it.
  const std::shared_ptr<const Snapshot>& current_snapshot();
  bool peer_is_trusted(const conf::Properties& props) const;

 private:
  std::shared_ptr<const Snapshot> snapshot_;  // the configuration as of snapshot_version_
  uint64_t snapshot_version_ = 0;
};

class RequestRunloop;

// The upstream header list as the proxy builds it from the request (the client's headers with
// Kong's forwarding headers), before plugins' edits: the base of ctx.upstream.headers. Built
// anew on every read: plugins may change what it depends on while they run.
class ForwardedHeaders final : public http::HeaderSource {
 public:
  ForwardedHeaders(const RequestRunloop& runloop, const RequestContext& ctx) : runloop_(runloop), ctx_(ctx) {}
  void emit(http::HeaderSink& sink) const override;
  void emit_named(std::string_view name, http::HeaderSink& sink) const override;
  http::HeaderNameFilter names() const override;

 private:
  const RequestRunloop& runloop_;
  const RequestContext& ctx_;
};

class RequestRunloop final : public core::RequestBodySource {
 public:
  // `deadline` times the upstream exchange's operations (an HTTP/1.1 connection lends its own:
  // its client and upstream operations never overlap).
  RequestRunloop(ClientConnection& connection, ClientSide& client, net::Deadline& deadline);
  RequestRunloop(const RequestRunloop&) = delete;
  RequestRunloop& operator=(const RequestRunloop&) = delete;

  // Starts a request: fills its context (also for a head that never became a request, answered
  // with respond()). `head_bytes`: the request head's size as received.
  void prepare(RequestContext& ctx, http::RequestHead& request, uint64_t head_bytes);
  // Everything up to the response having gone out.
  boost::asio::awaitable<Outcome> run(RequestContext& ctx);
  // After the response: the temporary body file removed, the access log line, the log phase
  // (inline when every log handler is native, else off the request's path with the context).
  boost::asio::awaitable<void> complete(RequestContext& ctx);
  // The access log line alone (a head that never became a request has no phases to finish).
  void write_access_log(RequestContext& ctx);

  // A response the gateway makes (Kong's JSON error body).
  boost::asio::awaitable<Outcome> respond(RequestContext& ctx, int status, std::string_view message);
  // ctx.response as the gateway (or a plugin) set it; `proxied`: the upstream's answer reshaped
  // by response-phase plugins (the proxy's latency headers, not the gateway's).
  boost::asio::awaitable<Outcome> send_gateway_response(RequestContext& ctx, bool proxied = false);
  // The headers the gateway adds to every response it proxied (latencies, Via, request id).
  void add_gateway_headers(HeaderSink& sink, const RequestContext& ctx) const;

  // --- For the upstream exchange ---
  // Reading the whole request body before proxying (request_buffering, or a plugin asked for it).
  enum class BodyOutcome { complete, too_large, malformed, client_gone, storage_failed };
  boost::asio::awaitable<BodyOutcome> read_whole_request_body(RequestContext& ctx);
  // For the PDK (ctx.body_source): kong.request.get_raw_body before proxying.
  boost::asio::awaitable<bool> read_whole_body(RequestContext& ctx) override;
  boost::asio::awaitable<Outcome> refuse_request_body(RequestContext& ctx, BodyOutcome outcome);
  boost::asio::awaitable<Outcome> refuse_bad_request_body(RequestContext& ctx);
  // Reads and drops the rest of the request body; false when it broke or the client went away.
  boost::asio::awaitable<bool> discard_request_body();
  // Plugins: runs a phase; true when a plugin (or a plugin failure) produced the response.
  boost::asio::awaitable<bool> run_phase(RequestContext& ctx, core::Phase phase,
                                         const std::vector<const plugins::ConfiguredPlugin*>& list);
  ForwardingInputs forwarding_inputs(const RequestContext& ctx) const;

  // This request's state beyond its context, reset by prepare().
  struct RequestState {
    std::vector<const plugins::ConfiguredPlugin*> response_plugins;  // non-empty: buffer the response
    // The log-phase plugins the access phase's collection resolved (unset: no access phase ran).
    std::optional<std::vector<const plugins::ConfiguredPlugin*>> log_plugins;
    // A WebSocket handshake (tunnel.h): forwarded with Upgrade, a 101 starts a tunnel, any other
    // answer ends the connection.
    bool websocket = false;
    // A chunked body went over client_max_body_size while a plugin read it: 413, never forwarded.
    bool body_too_large = false;
    // The request body read whole, when it went to a temporary file (removed with it).
    std::unique_ptr<SpooledBody> body_file;
    std::optional<BodyOutcome> body_read;  // set once the body was read whole (or that failed)
  };
  RequestState& state() { return state_; }
  ClientConnection& connection() { return connection_; }
  ClientSide& client() { return client_; }

 private:
  boost::asio::awaitable<Outcome> route_and_run_access(RequestContext& ctx);
  boost::asio::awaitable<Outcome> redirect_to_https(RequestContext& ctx, std::string_view host);
  std::optional<boost::asio::awaitable<Outcome>> grpc_route_mismatch(RequestContext& ctx, bool allows_grpc);
  std::string real_client_ip(const RequestContext& ctx) const;
  void start_upstream_request(RequestContext& ctx);
  void prepare_upstream_request(RequestContext& ctx);
  void adopt_rewritten_headers(RequestContext& ctx);
  // While alive (the access phase), plugins' reads of the upstream headers (kong.service.request.*,
  // request-transformer) see the forwarded list under their edits (no service: nothing to see).
  // Detached on exit: the context outlives this scope.
  class BaseAttached {
   public:
    BaseAttached(RequestContext& ctx, const RequestRunloop& runloop, bool attach)
        : ctx_(ctx), forwarded_(runloop, ctx) {
      if (attach) ctx.upstream.headers.attach(&forwarded_);
    }
    ~BaseAttached() { ctx_.upstream.headers.attach(nullptr); }
    BaseAttached(const BaseAttached&) = delete;
    BaseAttached& operator=(const BaseAttached&) = delete;

   private:
    RequestContext& ctx_;
    const ForwardedHeaders forwarded_;
  };
  boost::asio::awaitable<BodyOutcome> spool_request_body(RequestContext& ctx);
  boost::asio::awaitable<void> run_log_phase(RequestContext& ctx);

  ClientConnection& connection_;
  ClientSide& client_;
  Worker& worker_;
  UpstreamExchange upstream_;
  RequestState state_;
  std::vector<std::string_view> pieces_;  // body pieces taken from the client (reused)
};

}  // namespace gh::proxy
