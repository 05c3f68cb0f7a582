// Everything gatehouse knows about one proxied request, from the client's bytes to the log
// line. The proxy fills it in as the request moves through its phases; the PDK reads and
// writes it on behalf of plugins (kong.request.* reads `request`, kong.service.request.*
// writes `upstream`, kong.response.* writes `response`, ...).
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/entity_tables.h"
#include "core/phase.h"
#include "http/header_overlay.h"
#include "http/headers.h"
#include "http/parser.h"
#include "router/router.h"

struct ssl_st;  // OpenSSL's SSL

namespace gh::tls {
struct ClientCertificate;
}

namespace gh::core {

struct Snapshot;

using Clock = std::chrono::steady_clock;

// The request as gatehouse will send it upstream. Starts as a copy of the client's request
// with Kong's rewrites applied (strip_path, forwarded headers); plugins may change it.
struct UpstreamRequest {
  std::string scheme = "http";
  std::string method;
  std::string path;   // upstream path (router's upstream_path), percent-encoded as sent
  std::string query;  // raw query string without '?'
  // The upstream header list: the client's headers with Kong's forwarding headers (which the proxy
  // produces when it writes the head, attached as the base while plugins run) and the plugins'
  // edits over them, kept as edits: most requests edit a few headers, and a full copy cost one
  // allocation per header. After rewrite-phase plugins edited the client's headers it holds the
  // whole list instead (HeaderOverlay::assign).
  http::HeaderOverlay headers;
  std::optional<std::string> body;  // set by a plugin: replaces the client's body
  std::string host;                 // target host (service host, or upstream name)
  uint16_t port = 0;
  // Plugin overrides of the service's settings (kong.service.set_retries / set_timeouts /
  // set_tls_verify); unset = the service's value.
  std::optional<int> retries;
  std::optional<int> connect_timeout_ms;
  std::optional<int> write_timeout_ms;
  std::optional<int> read_timeout_ms;
  std::optional<bool> tls_verify;
};

// What the client will receive when gatehouse (not the upstream) produces the response, or
// the upstream's response head/body when buffered for the `response` phase.
struct ResponseState {
  int status = 0;
  http::Headers headers;
  std::string body;
  std::string source = "service";  // Kong's kong.response.get_source(): exit | error | service
  // Kong's ctx.KONG_PROXIED set by a plugin that answers in the upstream's place (proxy-cache's
  // hits): the response carries the proxied latency headers, not X-Kong-Response-Latency.
  bool served_as_proxied = false;
};

struct RequestContext;

// The client's request body, read on demand so kong.request.get_raw_body works before proxying
// (the proxy then sends that body). Implemented by the HTTP request run loop, which owns the
// client connection; the record only points at it for the request's duration.
class RequestBodySource {
 public:
  // Reads the rest of `ctx`'s body (once; later calls find it read). True when the whole body is
  // in ctx.buffered_request_body or ctx.request_body_file; false when it exceeds
  // client_max_body_size, the client went away or the body could not be stored.
  virtual boost::asio::awaitable<bool> read_whole_body(RequestContext& ctx) = 0;
  virtual ~RequestBodySource() = default;
};

// A plugin's view of the response on its way to the client, for a plugin that keeps a copy of
// it (proxy-cache; Kong's header_filter and body_filter). The session offers it the head before
// writing it (`head` may still change ctx.response.headers, which override the upstream's; false:
// not interested), then every body piece (false: stop), then `end` once the whole body went out.
class ResponseTap {
 public:
  virtual ~ResponseTap() = default;
  virtual bool head(RequestContext& ctx, int status, const http::Headers& upstream_headers) = 0;
  virtual bool body(std::string_view piece) = 0;
  virtual void end(RequestContext& ctx) = 0;
};

// The upstream's response as received, when buffered for the `response` phase
// (kong.service.response.*).
struct ServiceResponse {
  bool available = false;
  int status = 0;
  http::Headers headers;
  std::string body;
};

struct RequestContext {
  // client side
  std::string client_ip;  // after real_ip_header/trusted_ips processing
  uint16_t client_port = 0;
  std::string remote_ip;  // the TCP peer
  uint16_t remote_port = 0;
  bool peer_trusted = false;    // the TCP peer is in trusted_ips
  std::string scheme = "http";  // http | https; stream connections: tcp | tls
  uint16_t server_port = 0;     // the port the client connected to
  // TLS connections: the SNI the client sent and the protocol ("TLSv1.3"); empty otherwise
  // (nginx's $ssl_server_name and $ssl_protocol).
  std::string tls_server_name;
  std::string tls_protocol;
  // The certificate the client presented (kong.client.tls.*, $ssl_client_*; null: none), and
  // kong.client.tls.set_client_verify's verdict for this request ("": OpenSSL's).
  std::shared_ptr<const tls::ClientCertificate> client_certificate;
  std::string client_verify_override;
  // Only while the certificate phase runs: the paused handshake, for
  // kong.client.tls.request_client_certificate and disable_session_reuse.
  ssl_st* handshake_ssl = nullptr;
  http::RequestHead* request = nullptr;
  // Owns a copy of the head when the context outlives the connection's parser (the log phase).
  std::shared_ptr<http::RequestHead> request_copy;
  std::string request_id;

  // routing
  std::shared_ptr<const Snapshot> snapshot;
  std::optional<router::RouteMatch> match;

  UpstreamRequest upstream;
  ResponseState response;

  // upstream outcome
  std::string upstream_addr;  // ip:port actually used
  // Set-Cookie value for a consistent-hashing cookie the client lacked (Kong's balancer_data.hash_cookie).
  std::string balancer_cookie;
  int upstream_status = 0;
  int tries = 0;

  // timing (Kong's latencies: total, upstream, gateway = kong)
  Clock::time_point start = Clock::now();
  Clock::time_point upstream_start{};
  Clock::time_point upstream_first_byte{};
  Clock::time_point end{};
  std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();
  // When each plugin phase ran, indexed by Phase (zero: it did not run): Kong's
  // KONG_<PHASE>_START / _ENDED_AT / _TIME keys of kong.nginx.get_ctx.
  struct PhaseTime {
    Clock::time_point start{}, end{};
  };
  std::array<PhaseTime, kPhaseCount> phase_times{};

  uint64_t request_bytes = 0;   // received from the client (head + body)
  uint64_t response_bytes = 0;  // sent to the client (head + body)

  ServiceResponse service_response;
  std::shared_ptr<ResponseTap> response_tap;  // set by a plugin before the upstream answers

  // Where the rest of the client's body comes from when a plugin asks for it (the HTTP run loop
  // of this request); null where there is none to read (a stream connection, the log phase).
  RequestBodySource* body_source = nullptr;
  // The whole body, when it fit in client_body_buffer_size.
  std::optional<std::string> buffered_request_body;
  // Otherwise the temporary file holding it (nginx's client_body_temp), removed after the request.
  std::string request_body_file;

  // Plugin-visible state. The tables start as null, not as empty objects (an empty object is an
  // allocation per request that almost every request would throw away); the first key set
  // turns them into objects, and lookups in null find nothing.
  Phase phase = Phase::rewrite;  // the phase running now (set by the phase runner)
  nlohmann::json ctx_shared;     // kong.ctx.shared
  nlohmann::json plugin_ctx;     // kong.ctx.plugin of native plugins: {plugin name: table}
  nlohmann::json nginx_ctx;      // kong.nginx.get_ctx / set_ctx
  // kong.client.authenticate (null if none); shared with the snapshot's tables (core/entity_tables.h).
  EntityTable authenticated_consumer;
  EntityTable authenticated_credential;
  nlohmann::json serialize_overrides;  // kong.log.set_serialize_value
};

}  // namespace gh::core
