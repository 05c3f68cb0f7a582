#include "proxy/http_session.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>

#include "common/log.h"
#include "common/strings.h"
#include "common/version.h"
#include "http/kong_responses.h"
#include "pdk/state.h"
#include "plugins/runner.h"
#include "proxy/access_log.h"
#include "proxy/hash_inputs.h"
#include "proxy/tunnel.h"
#include "proxy/upstream_headers.h"
#include "tls/upstream_tls.h"

namespace gh::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using namespace std::string_view_literals;  // "..."sv appends need no strlen

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kClientHeaderTimeout = 60s;  // nginx client_header_timeout
constexpr auto kKeepaliveTimeout = 60s;     // nginx keepalive_timeout
constexpr auto kClientBodyTimeout = 60s;    // nginx client_body_timeout
constexpr auto kSendTimeout = 60s;          // nginx send_timeout
constexpr auto kTlsCloseTimeout = 1s;       // waiting for the client's close_notify

long millis_between(Clock::time_point a, Clock::time_point b) {
  if (a == Clock::time_point{} || b == Clock::time_point{} || b < a) return 0;
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

bool status_has_no_body(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

void append_status_line(std::string& out, int status, std::string_view reason) {
  out += "HTTP/1.1 ";
  append_decimal(out, static_cast<uint64_t>(status));
  out += ' ';
  out += reason;
  out += "\r\n";
}

// "ip:port", as logs and kong.log.serialize show the upstream.
std::string endpoint_text(const tcp::endpoint& endpoint) {
  std::string out = endpoint.address().to_string();
  out += ':';
  append_decimal(out, endpoint.port());
  return out;
}

void append_content_length(std::string& out, uint64_t length) {
  out += "Content-Length: ";
  append_decimal(out, length);
  out += "\r\n";
}

// The Service's timeouts and retries, unless a plugin changed them for this request
// (kong.service.set_timeouts / set_retries, as Kong's balancer_data).
std::chrono::milliseconds connect_timeout(const RequestContext& ctx) {
  return std::chrono::milliseconds(
      ctx.upstream.connect_timeout_ms.value_or(ctx.match->service->connect_timeout_ms));
}

std::chrono::milliseconds write_timeout(const RequestContext& ctx) {
  return std::chrono::milliseconds(
      ctx.upstream.write_timeout_ms.value_or(ctx.match->service->write_timeout_ms));
}

std::chrono::milliseconds read_timeout(const RequestContext& ctx) {
  return std::chrono::milliseconds(
      ctx.upstream.read_timeout_ms.value_or(ctx.match->service->read_timeout_ms));
}

int upstream_retries(const RequestContext& ctx) {
  return ctx.upstream.retries.value_or(ctx.match->service->retries);
}

// RFC 9110's idempotent methods: a request the upstream may have seen is only sent again with
// one of these. (nginx repeats every method but POST, LOCK and PATCH; an unknown method may not
// be safe to repeat, so it is not.)
bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

// The upstream's response headers as plugins see them (kong.service.response.*): hop-by-hop ones
// left out, but Content-Length kept, as in Kong.
http::Headers upstream_headers_for_plugins(const http::Headers& received) {
  http::Headers headers;
  headers.reserve(received.size());
  const HopByHop hop(received);
  for (const auto& h : received)
    if (!hop.contains(h.name) || iequals(h.name, "content-length")) headers.add(h.name, h.value);
  return headers;
}

// The response headers once the upstream answered (kong.response.get_headers, kong.log.serialize):
// the upstream's, those plugins set before it answered replacing the upstream's of the same name,
// every value in order (as forward_response writes them to the client).
http::Headers merged_response_headers(const http::Headers& upstream, const http::Headers& overrides) {
  http::Headers headers;
  headers.reserve(upstream.size() + overrides.size());
  for (const auto& h : upstream)
    if (overrides.empty() || !overrides.has(h.name)) headers.add(h.name, h.value);
  for (const auto& h : overrides) headers.add(h.name, h.value);
  return headers;
}

// The upstream's response headers as they go to the client: hop-by-hop ones left out, those
// plugins set with kong.response.* before the upstream answered replacing the upstream's.
void append_proxied_headers(std::string& out, const http::Headers& upstream, const http::Headers& overrides) {
  HeadLinesSink lines(out);
  const HopByHop hop(upstream);
  for (const auto& h : upstream)
    if (!hop.contains(h.name) && (overrides.empty() || !overrides.has(h.name))) lines.add(h.name, h.value);
  for (const auto& h : overrides)
    if (!HopByHop::always(h.name)) lines.add(h.name, h.value);
}

}  // namespace

HttpSession::HttpSession(Worker& worker, net::ByteStream stream, uint16_t server_port, ConnectionTls tls)
    : worker_(worker),
      client_(std::move(stream)),
      server_port_(server_port),
      deadline_(client_.get_executor()),
      parser_(http::Parser::Kind::request),
      upstream_parser_(http::Parser::Kind::response) {
  boost::system::error_code ec;
  tls_ = std::move(tls);
  auto peer = client_.socket().remote_endpoint(ec);
  if (!ec) {
    peer_address_ = peer.address();
    remote_ip_ = peer_address_.to_string();
    remote_port_ = peer.port();
  }

  client_.socket().set_option(tcp::no_delay(true), ec);
  worker_.track(&client_.socket());
}

HttpSession::~HttpSession() {
  worker_.untrack(&client_.socket());
}

asio::awaitable<void> HttpSession::run() {
  while (true) {
    // Awaited results go through a local: GCC 12 miscompiles a co_await in the condition of a
    // brace-less `if` (GCC PR 106188, see stream_session.cpp).
    const bool have_request = co_await read_request_head();
    if (!have_request) break;
    RequestContext ctx;
    worker_.active_requests++;
    Worker::count(worker_.requests_total);
    Outcome outcome = co_await handle_request(ctx);
    // The next request starts where this one's body ends: read past whatever was not consumed.
    if (outcome == Outcome::keep_alive && !request_body_done_ && !co_await discard_request_body())
      outcome = Outcome::close;
    request_body_.reset();  // removes a temporary body file: nothing reads it after the response
    finish(ctx);
    co_await run_log_phase(ctx);
    worker_.active_requests--;  // after the log phase is counted: draining never sees a gap
    first_request_ = false;
    if (outcome == Outcome::close || worker_.host().draining()) break;
  }
  co_await client_.close_notify(deadline_, kTlsCloseTimeout);
  deadline_.stop();
  boost::system::error_code ec;
  client_.socket().shutdown(tcp::socket::shutdown_send, ec);
  client_.socket().close(ec);
}

// Reads until a complete request head is parsed. Malformed heads are answered here (400, 414,
// 431) and end the connection. Returns false when the connection is over.
asio::awaitable<bool> HttpSession::read_request_head() {
  parser_.reset();
  request_body_done_ = false;
  request_body_too_large_ = false;
  request_body_read_.reset();
  websocket_ = false;
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
        int code = 400;
        if (parser_.error() == http::ParseError::headers_too_large ||
            parser_.error() == http::ParseError::too_many_headers)
          code = 431;
        if (parser_.error() == http::ParseError::target_too_long) code = 414;
        if (parser_.error() == http::ParseError::unknown_transfer_encoding) code = 501;
        spdlog::info("client {}:{} sent a malformed request: {}", remote_ip_, remote_port_,
                     parser_.error_reason());
        co_await respond_without_request(code);
        co_return false;
      }
    }
    size_t available = 0;
    char* space = in_.prepare(4096, available);
    auto [ec, n] = co_await client_.read_some(asio::buffer(space, available));
    if (ec) {
      if (parser_.in_message() && deadline_.expired()) co_await respond_without_request(408);
      co_return false;
    }
    in_.commit(n);
  }
  deadline_.disarm();
  co_return true;
}

const std::shared_ptr<const Snapshot>& HttpSession::current_snapshot() {
  const uint64_t version = worker_.host().snapshot_version();
  if (!snapshot_ || version != snapshot_version_) {
    snapshot_version_ = version;
    snapshot_ = worker_.host().snapshot();
  }
  return snapshot_;
}

// Answers a head that never became a request (malformed, too large, timed out) and logs it.
// A coroutine of its own so that read_request_head's frame, allocated per request, does not
// carry a RequestContext for this rare path.
asio::awaitable<void> HttpSession::respond_without_request(int status) {
  RequestContext ctx;
  prepare_context(ctx);
  co_await respond(ctx, status, http::kong_default_message(status));
  finish(ctx);
}

void HttpSession::prepare_context(RequestContext& ctx) {
  ctx.snapshot = current_snapshot();
  ctx.request = &parser_.request();
  ctx.request_bytes = request_head_bytes_;  // nginx's $request_length: the head, then the body read
  ctx.remote_ip = remote_ip_;
  ctx.remote_port = remote_port_;
  ctx.client_ip = remote_ip_;
  ctx.client_port = remote_port_;
  ctx.server_port = server_port_;
  if (client_.is_tls()) {
    ctx.scheme = "https";
    ctx.tls_server_name = tls_.server_name;
    ctx.tls_protocol = tls_.protocol;
    ctx.client_certificate = tls_.client_certificate;
    if (!tls_.ctx_shared.is_null()) ctx.ctx_shared = tls_.ctx_shared;
  }
  ctx.request_id = worker_.new_request_id();
  ctx.peer_trusted = peer_is_trusted(ctx.snapshot->properties);
}

bool HttpSession::peer_is_trusted(const conf::Properties& props) const {
  for (const auto& cidr : props.trusted_ips)
    if (cidr.contains(peer_address_)) return true;
  return false;
}

std::string HttpSession::real_client_ip(const RequestContext& ctx) const {
  if (!ctx.peer_trusted) return remote_ip_;
  const auto& props = ctx.snapshot->properties;
  auto header = ctx.request->headers.get(props.real_ip_header);
  if (!header) return remote_ip_;
  auto trusted = [&](const asio::ip::address& a) {
    for (const auto& cidr : props.trusted_ips)
      if (cidr.contains(a)) return true;
    return false;
  };
  // X-Forwarded-For style lists: walk from the right, skipping trusted proxies when recursive.
  auto hops = split_list(*header, ',');
  boost::system::error_code ec;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto candidate = asio::ip::make_address(*it, ec);
    if (ec) break;
    if (!props.real_ip_recursive || !trusted(candidate)) return candidate.to_string();
  }
  return remote_ip_;
}

asio::awaitable<HttpSession::Outcome> HttpSession::handle_request(RequestContext& ctx) {
  response_streamed_ = false;
  prepare_context(ctx);
  auto& req = parser_.request();
  websocket_ = wants_websocket(req);
  ctx.client_ip = real_client_ip(ctx);
  client_wants_continue_ = req.version_minor >= 1 && req.headers.has_token("expect", "100-continue");

  if (req.version_minor >= 1 && !req.headers.has("host")) co_return co_await respond(ctx, 400, "Bad request");
  if (req.headers.count("host") > 1) co_return co_await respond(ctx, 400, "Bad request");
  // CONNECT (a tunnel to the target's authority) is no request to proxy: nginx refuses it so.
  if (req.method == "CONNECT") co_return co_await respond(ctx, 400, "Bad request");

  ctx.read_request_body = [this, &ctx]() { return read_body_for_plugin(ctx); };
  const auto* plugin_set = ctx.snapshot->plugins.get();
  response_plugins_.clear();
  log_plugins_.reset();
  start_upstream_request(ctx);
  const auto rewrite = plugin_set ? plugin_set->globals(core::Phase::rewrite)
                                  : std::vector<const plugins::ConfiguredPlugin*>();
  if (!rewrite.empty()) {
    // Kong's rewrite plugins edit the client's request itself (ngx.req.*): they edit its headers.
    ctx.upstream.headers = req.headers;
    const bool answered = co_await run_phase(ctx, core::Phase::rewrite, rewrite);
    if (answered) co_return co_await send_gateway_response(ctx);
  }

  router::RouteRequest route_request;
  route_request.method = req.method;
  route_request.host = req.host();  // an absolute-form target's host wins over Host (RFC 9112 §3.2.2)
  route_request.path = req.path();
  route_request.scheme = ctx.scheme;
  route_request.sni = tls_.server_name;
  route_request.port = server_port_;
  route_request.header_values = [&req](std::string_view name) { return req.headers.get_all(name); };
  ctx.match = ctx.snapshot->router->match(route_request);
  if (!ctx.match) co_return co_await respond(ctx, 404, "no Route matched with those values");

  const auto& route = *ctx.match->route;
  bool allows_http = false;
  for (const auto& p : route.protocols) allows_http |= (p == ctx.scheme);
  if (!allows_http) {
    // Kong: https-only routes reached over http answer https_redirect_status_code.
    int code = route.https_redirect_status_code;
    if (code == 426) co_return co_await respond(ctx, 426, "Please use HTTPS protocol");
    ctx.response.status = code;
    ctx.response.produced_by_gateway = true;
    ctx.response.headers.set("Location", "https://" + host_without_port(route_request.host) + req.target);
    co_return co_await send_gateway_response(ctx);
  }
  const size_t limit = ctx.snapshot->properties.client_max_body_size;
  if (limit > 0 && req.content_length && *req.content_length > limit)
    co_return co_await respond(ctx, 413, http::kong_default_message(413));

  if (ctx.match->service) prepare_upstream_request(ctx);
  if (plugin_set) {
    const std::string& route_id = ctx.match->route->id;
    static const std::string kNoService;
    const std::string& service_id = ctx.match->service ? ctx.match->service->id : kNoService;
    // Plugins edit the upstream request through kong.service.request.*: the full list is built
    // on their first header edit (after rewrite plugins edited the client's, at once).
    const bool may_run = plugin_set->may_run(core::Phase::access, route_id, service_id);
    if (ctx.match->service && !rewrite.empty()) materialize_upstream_headers(ctx, true);
    const HeadersOnDemand on_demand(ctx, ctx.match->service && may_run ? this : nullptr);
    if (auto* runner = worker_.runner()) {
      // Each plugin resolved when reached, with the consumer an earlier one may have authenticated.
      plugins::Collector access(*plugin_set, core::Phase::access, route_id, service_id,
                                ctx.authenticated_consumer);
      bool answered = false;
      if (may_run) {
        const auto end = co_await runner->run(ctx, core::Phase::access, access);
        answered = end == plugins::PhaseEnd::responded;
      }
      // The names not reached (after an exit, as Kong's delayed response, or with no access
      // plugin at all) are still resolved: their log-phase plugins run.
      access.resolve_rest();
      log_plugins_ = access.resolved(core::Phase::log);
      if (answered) co_return co_await send_gateway_response(ctx, ctx.response.served_as_proxied);
      response_plugins_ = access.resolved(core::Phase::response);
    }
  }
  if (!ctx.match->service) co_return co_await respond(ctx, 503, "no Service found with those values");
  co_return co_await proxy(ctx);
}

// What the upstream request takes from the client's before any plugin runs: method and query.
// Scheme, path and target come from the route and service once routed, unless a rewrite-phase
// plugin set them already (empty = not set).
void HttpSession::start_upstream_request(RequestContext& ctx) {
  auto& up = ctx.upstream;
  up.method = ctx.request->method;
  up.query = std::string(ctx.request->query());
  up.scheme.clear();
}

// What goes upstream besides the headers: Kong's path rewriting (done by the router) and the
// target service, where no rewrite-phase plugin (kong.service.*) chose otherwise.
void HttpSession::prepare_upstream_request(RequestContext& ctx) {
  const auto& match = *ctx.match;
  const auto& service = *match.service;
  auto& up = ctx.upstream;
  if (up.scheme.empty()) up.scheme = service.protocol;
  if (up.path.empty()) up.path = match.upstream_path;
  if (up.host.empty()) {
    up.host = service.host;
    up.port = service.port;
  }
}

ForwardingInputs HttpSession::forwarding_inputs(const RequestContext& ctx) const {
  return ForwardingInputs{
      .request = *ctx.request,
      .match = *ctx.match,
      .client_ip = ctx.client_ip,
      .remote_ip = remote_ip_,
      .scheme = ctx.scheme,
      .server_port = server_port_,
      .trusted_peer = ctx.peer_trusted,
      .server_tokens = ctx.snapshot->server_tokens,
      .request_id = ctx.snapshot->request_id_header ? std::string_view(ctx.request_id) : std::string_view()};
}

// Builds the full upstream header list for plugins to edit. After the rewrite phase it is built
// from the client's headers as those plugins left them (Kong's rewrite edits the request itself);
// a Host they set is the upstream's Host (Kong's set_header("host") sets upstream_host).
void HttpSession::materialize_upstream_headers(RequestContext& ctx, bool rewritten) {
  auto& up = ctx.upstream;
  const http::Headers edited = std::move(up.headers);
  up.headers.clear();
  up.headers.reserve(ctx.request->headers.size() + 24);  // forwarding + plugins' headers: no regrowth
  HeadersSink sink(up.headers);
  ForwardingInputs inputs = forwarding_inputs(ctx);
  if (rewritten) inputs.client_headers = &edited;
  emit_upstream_headers(inputs, sink);
  const auto host = edited.get("host");
  if (rewritten && host && host != ctx.request->headers.get("host"))
    up.headers.set("Host", std::string(*host));
  up.headers_materialized = true;
}

void HttpSession::serialize_upstream_head(const RequestContext& ctx, bool chunked, size_t content_length,
                                          std::string& out) const {
  const auto& up = ctx.upstream;
  out.clear();
  out += up.method;
  out += ' ';
  out += up.path.empty() ? "/" : up.path;
  if (!up.query.empty()) {
    out += '?';
    out += up.query;
  }
  out += " HTTP/1.1\r\n";
  HeadLinesSink lines(out);
  if (up.headers_materialized) {
    for (const auto& h : up.headers) lines.add(h.name, h.value);
  } else {
    emit_upstream_headers(forwarding_inputs(ctx), lines);
  }
  if (websocket_) out += kWebSocketRequestLines;
  if (chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  } else if (content_length > 0 || !(up.method == "GET" || up.method == "HEAD")) {
    out += "Content-Length: ";
    append_decimal(out, content_length);
    out += "\r\n";
  }
  out += "\r\n";
}

template <class Sink>
HttpSession::BodyFeed HttpSession::take_available_body(Sink&& sink) {
  while (!request_body_done_) {
    size_t consumed = 0;
    auto status = parser_.feed(in_.readable(), consumed);
    if (status == http::Parser::Status::error) return BodyFeed::malformed;
    for (auto piece : parser_.body())
      if (!sink(piece)) return BodyFeed::sink_failed;
    in_.consume(consumed);
    if (status == http::Parser::Status::message_complete) request_body_done_ = true;
    if (status != http::Parser::Status::headers_complete || consumed == 0) break;
  }
  return request_body_done_ ? BodyFeed::complete : BodyFeed::need_more;
}

// Moves whatever body bytes already arrived into `body`. True when the whole body is there.
asio::awaitable<bool> HttpSession::collect_available_body(std::string& body) {
  take_available_body([&body](std::string_view piece) {
    body.append(piece);
    return true;
  });
  co_return request_body_done_;
}

// A pooled keep-alive connection to any of `addresses` (first address first), or null.
std::unique_ptr<net::UpstreamConnection> HttpSession::take_pooled(
    RequestContext& ctx, const std::vector<asio::ip::address>& addresses, uint16_t port) {
  for (const auto& address : addresses) {
    tcp::endpoint key(address, port);
    if (auto pooled = worker_.pool().take(key, upstream_tls_key(ctx))) {
      ctx.upstream_addr = pooled->address_text;
      return pooled;
    }
  }
  return nullptr;
}

asio::awaitable<HttpSession::UpstreamError> HttpSession::connect(
    RequestContext& ctx, const std::string& host, uint16_t port,
    std::unique_ptr<net::UpstreamConnection>& out) {
  const std::vector<asio::ip::address>* addresses = worker_.resolver().cached(host);
  std::vector<asio::ip::address> looked_up;
  if (!addresses) {
    std::string error;
    looked_up = co_await worker_.resolver().resolve(host, error);
    if (looked_up.empty()) {
      spdlog::error("upstream name resolution failed for '{}': {}", host, error);
      co_return UpstreamError::resolve;
    }
    addresses = &looked_up;
  }
  if ((out = take_pooled(ctx, *addresses, port))) co_return UpstreamError::none;
  auto conn = new_upstream_connection(ctx);
  const auto& address = (*addresses)[static_cast<size_t>(ctx.tries) % addresses->size()];
  tcp::endpoint endpoint(address, port);
  conn->key = endpoint;
  conn->address_text = endpoint_text(endpoint);
  ctx.upstream_addr = conn->address_text;
  conn->socket.open(endpoint.protocol());
  deadline_.arm(connect_timeout(ctx), conn->socket);
  auto [ec] = co_await conn->socket.async_connect(endpoint, use_tuple);
  deadline_.disarm();
  if (ec) {
    bool timed_out = deadline_.expired();
    spdlog::error("connect() to {} failed: {} while connecting to upstream", ctx.upstream_addr,
                  timed_out ? "timed out" : ec.message());
    co_return timed_out ? UpstreamError::connect_timeout : UpstreamError::connect_refused;
  }
  boost::system::error_code ignored;
  conn->socket.set_option(tcp::no_delay(true), ignored);
  if (conn->stream.is_tls()) {  // not `is_tls() && co_await ...`: GCC 12 miscompiles co_await in &&
    const bool secured = co_await upstream_handshake(ctx, *conn);
    if (!secured) co_return UpstreamError::connect_refused;
  }
  out = std::move(conn);
  co_return UpstreamError::none;
}

// `protocol: https` services: the SNI and the name verified are the host the request goes to
// (the client's Host with preserve_host, else the service host); verification as the service's
// tls_verify unless a plugin called kong.service.set_tls_verify. "" for plain HTTP.
std::string HttpSession::upstream_tls_key(const RequestContext& ctx) const {
  if (ctx.upstream.scheme != "https") return {};
  const auto& service = *ctx.match->service;
  bool verify = ctx.upstream.tls_verify.value_or(service.tls_verify);
  return service.id + '|' + upstream_server_name(ctx) + (verify ? "|verify" : "|no-verify");
}

std::string HttpSession::upstream_server_name(const RequestContext& ctx) const {
  if (ctx.match->route->preserve_host && ctx.request)
    return host_without_port(ctx.request->headers.get("host").value_or(""));
  return ctx.upstream.host;
}

std::unique_ptr<net::UpstreamConnection> HttpSession::new_upstream_connection(const RequestContext& ctx) {
  if (ctx.upstream.scheme == "https") {
    auto tls = worker_.upstream_tls();
    if (auto* context = tls->context(ctx.match->service->id))
      return std::make_unique<net::UpstreamConnection>(client_.get_executor(), *context, tls,
                                                       upstream_tls_key(ctx));
  }
  return std::make_unique<net::UpstreamConnection>(client_.get_executor());
}

asio::awaitable<bool> HttpSession::upstream_handshake(RequestContext& ctx, net::UpstreamConnection& conn) {
  const auto& service = *ctx.match->service;
  auto* ssl = conn.stream.tls_stream();
  tls::UpstreamTls::prepare(ssl->native_handle(), upstream_server_name(ctx),
                            ctx.upstream.tls_verify.value_or(service.tls_verify));
  deadline_.arm(connect_timeout(ctx), conn.socket);
  auto [ec] = co_await ssl->async_handshake(asio::ssl::stream_base::client, use_tuple);
  deadline_.disarm();
  if (!ec) co_return true;
  auto why = tls::UpstreamTls::verify_error(ssl->native_handle());
  spdlog::error("TLS handshake with upstream {} failed: {}", ctx.upstream_addr,
                deadline_.expired() ? "timed out"
                : why.empty()       ? ec.message()
                                    : "certificate verify error: " + why);
  co_return false;
}

// What a failed try tells the upstream's passive health checks (Kong's timeouts / tcp_failures).
upstream::Result HttpSession::passive_result(UpstreamError error) {
  const bool timed_out = error == UpstreamError::connect_timeout || error == UpstreamError::read_timeout;
  return timed_out ? upstream::Result::timeout : upstream::Result::tcp_failure;
}

asio::awaitable<HttpSession::Outcome> HttpSession::proxy(RequestContext& ctx) {
  const auto& req = *ctx.request;

  // The body: a plugin's replacement, or the client's. With the route's request_buffering (Kong's
  // default) the client's body is read whole first, in memory or in a temporary file, and sent
  // with its Content-Length, as nginx does. Without it, a body that arrived whole with the head
  // is kept in memory, so the request can be retried; a larger one is streamed once.
  std::string collected;
  std::string_view body;
  const SpooledBody* body_file = nullptr;
  bool body_complete = true;
  bool chunked = false;
  if (request_body_too_large_) co_return co_await respond(ctx, 413, http::kong_default_message(413));
  if (websocket_ && !response_plugins_.empty()) {
    // Kong turns buffered proxying off for an upgrade: no response phase (and no buffering).
    spdlog::info("response buffering was turned off: connection upgrade (websocket)");
    response_plugins_.clear();
  }
  if (ctx.upstream.body) {
    const bool discarded = co_await discard_request_body();
    if (!discarded) co_return co_await refuse_bad_request_body(ctx);
    body = *ctx.upstream.body;
  } else if (req.has_body() &&
             (ctx.match->route->request_buffering || request_body_read_ || !response_plugins_.empty())) {
    // Read whole also when a plugin read it already (or tried), and for the response phase: Kong
    // reads the body before its buffered proxying, so plugins can still read it there.
    const auto read = co_await read_whole_request_body(ctx);
    if (read != BodyOutcome::complete) co_return co_await refuse_request_body(ctx, read);
    if (ctx.buffered_request_body)
      body = *ctx.buffered_request_body;
    else
      body_file = request_body_.get();
  } else if (req.has_body()) {
    const bool continued = co_await send_continue_if_expected();
    if (!continued) co_return Outcome::close;
    body_complete = co_await collect_available_body(collected);
    if (request_body_malformed()) co_return co_await refuse_bad_request_body(ctx);
    const size_t limit = ctx.snapshot->properties.client_max_body_size;
    if (limit > 0 && collected.size() > limit)
      co_return co_await respond(ctx, 413, http::kong_default_message(413));
    chunked = !body_complete && !req.content_length;
    body = collected;
  }
  const uint64_t content_length = body_file       ? body_file->size()
                                  : body_complete ? body.size()
                                                  : (req.content_length ? *req.content_length : 0);
  serialize_upstream_head(ctx, chunked, content_length, head_out_);

  // Once the upstream may have seen the request, it goes again only when we still hold all of it
  // and the method is idempotent (nginx: proxy_next_upstream without non_idempotent).
  const bool may_repeat = body_complete && is_idempotent(ctx.upstream.method);
  // A pooled connection that provably got no byte (what went out so far is still in head_out_ and
  // `body`, the rest still on the client's socket): one retry that is not a try.
  bool free_retry_left = true;

  const int max_tries = upstream_retries(ctx) + 1;
  // A host naming an upstream: its balancer picks each try's target and hears how it went.
  auto balanced =
      worker_.balancer().select(worker_.host().upstreams(), ctx.upstream.host, RequestHashInputs(ctx));
  if (balanced) ctx.balancer_cookie = balanced->set_cookie_header();
  UpstreamError last_error = UpstreamError::none;
  ctx.upstream_start = Clock::now();

  while (ctx.tries < max_tries) {
    std::string host = ctx.upstream.host;
    uint16_t port = ctx.upstream.port;
    if (balanced) {
      upstream::TargetAddress target;
      if (!balanced->next(target)) {
        if (ctx.tries == 0)
          co_return co_await respond(ctx, 503, "failure to get a peer from the ring-balancer");
        break;
      }
      host = std::move(target.host);
      port = target.port;
    }
    ctx.tries++;
    // The common case, a pooled connection to a known address, needs no coroutine of its own.
    std::unique_ptr<net::UpstreamConnection> conn;
    if (const auto* known = worker_.resolver().cached(host)) conn = take_pooled(ctx, *known, port);
    last_error = conn ? UpstreamError::none : co_await connect(ctx, host, port, conn);
    if (last_error == UpstreamError::resolve) co_return co_await respond(ctx, 503, "name resolution failed");
    if (last_error != UpstreamError::none) {
      if (balanced) balanced->failed(passive_result(last_error));
      continue;
    }

    const bool reused = conn->requests > 0;
    // Head and the body bytes we hold go out in one write.
    std::string chunk_head;
    out_.clear();
    out_.emplace_back(asio::buffer(head_out_));
    if (!body.empty()) {
      if (chunked) {
        chunk_head = fmt::format("{:x}\r\n", body.size());
        out_.emplace_back(asio::buffer(chunk_head));
      }
      out_.emplace_back(asio::buffer(body));
      if (chunked) out_.emplace_back(asio::buffer("\r\n", 2));
    }
    boost::system::error_code wec;
    conn->stream.write_now(out_, wec);
    // write_now fails only before any byte left: the upstream saw nothing of this request.
    const bool nothing_sent = static_cast<bool>(wec);
    if (!wec && !out_.empty()) {
      deadline_.arm(write_timeout(ctx), conn->socket);
      auto [ec, written] = co_await conn->stream.write(out_);
      deadline_.disarm();
      wec = ec;
    }
    if (!wec && body_file) {
      const bool sent = co_await send_spooled_body(*conn, ctx, *body_file);
      if (!sent) wec = asio::error::broken_pipe;
    }
    if (wec) {
      last_error = UpstreamError::write;
      spdlog::error("upstream {} failed while sending the request: {}", ctx.upstream_addr,
                    deadline_.expired() ? "timed out" : wec.message());
      if (reused && nothing_sent && free_retry_left) {
        // A pooled connection closed between the pool's check and our write: not a real try, once.
        free_retry_left = false;
        ctx.tries--;
        continue;
      }
      if (balanced) balanced->failed(upstream::Result::tcp_failure);
      if (may_repeat) continue;
      break;
    }
    if (!body_complete) {
      auto err = co_await stream_rest_of_body(*conn, ctx, chunked, body.size());
      if (err != UpstreamError::none) {
        if (err == UpstreamError::closed_early) co_return Outcome::close;  // the client went away
        // The upstream got part of a body the client then broke: it may be waiting for the rest,
        // so its connection is dropped (closed, never pooled) along with the client's.
        if (err == UpstreamError::bad_request_body) co_return co_await refuse_bad_request_body(ctx);
        // The upstream got part of a body over the limit: the connection cannot be reused (dropped here).
        const int status = err == UpstreamError::body_too_large ? 413 : 502;
        co_return co_await respond(ctx, status, http::kong_default_message(status));
      }
    }
    conn->requests++;

    last_error = co_await read_response_head(*conn, ctx, req.method == "HEAD");
    if (balanced && last_error == UpstreamError::none)
      balanced->responded(upstream_parser_.response().status);
    if (balanced && last_error != UpstreamError::none) balanced->failed(passive_result(last_error));
    if (last_error == UpstreamError::none && upstream_parser_.response().status == 101) {
      auto switched = switch_protocols(std::move(conn), ctx);
      co_return co_await std::move(switched);
    }
    if (last_error == UpstreamError::none) {
      auto answer = response_plugins_.empty() ? forward_response(std::move(conn), ctx, upstream_parser_)
                                              : buffer_response(std::move(conn), ctx, upstream_parser_);
      co_return co_await std::move(answer);
    }
    // The upstream got the request and may have acted on it: only an idempotent one goes again,
    // as a counted try. A malformed answer or a read timeout is final (docs/upstream.md).
    if (last_error == UpstreamError::closed_early && may_repeat) continue;
    break;
  }
  const int status =
      last_error == UpstreamError::connect_timeout || last_error == UpstreamError::read_timeout ? 504 : 502;
  co_return co_await respond(ctx, status, http::kong_default_message(status));
}

// Reads the upstream's final response head into upstream_parser_, skipping 1xx interim responses
// (the body bytes that came with it stay in upstream_in_). A connection that ends before any
// response byte is closed_early (nginx: "upstream prematurely closed connection").
asio::awaitable<HttpSession::UpstreamError> HttpSession::read_response_head(net::UpstreamConnection& conn,
                                                                            RequestContext& ctx,
                                                                            bool head_request) {
  // One response parser per session, restarted per response: its buffers keep their capacity.
  http::Parser& parser = upstream_parser_;
  parser.restart();
  parser.expect_no_body(head_request);
  upstream_in_.clear();
  bool received_any = false;
  while (true) {
    if (!upstream_in_.empty()) {
      size_t consumed = 0;
      const auto status = parser.feed(upstream_in_.readable(), consumed);
      upstream_in_.consume(consumed);
      if (status == http::Parser::Status::error) {
        spdlog::error("upstream {} sent an invalid response head: {}", ctx.upstream_addr,
                      parser.error_reason());
        co_return UpstreamError::bad_response;
      }
      if (parser.headers_done()) {
        const int code = parser.response().status;
        if (code < 100 || code >= 200 || code == 101) co_return UpstreamError::none;
        // Interim response: finish it, then wait for the final one.
        parser.feed(upstream_in_.readable(), consumed);
        upstream_in_.consume(consumed);
        parser.reset();
        parser.expect_no_body(head_request);
        continue;
      }
    }
    size_t available = 0;
    char* space = upstream_in_.prepare(4096, available);
    deadline_.arm(read_timeout(ctx), conn.socket);
    auto [ec, n] = co_await conn.stream.read_some(asio::buffer(space, available));
    deadline_.disarm();
    if (ec) {
      if (deadline_.expired()) {
        spdlog::error("upstream {} timed out while reading the response head", ctx.upstream_addr);
        co_return UpstreamError::read_timeout;
      }
      const bool nothing_received = !received_any;
      spdlog::error("upstream {} {} while reading the response head", ctx.upstream_addr,
                    nothing_received ? "prematurely closed the connection" : ec.message());
      co_return nothing_received ? UpstreamError::closed_early : UpstreamError::bad_response;
    }
    if (ctx.upstream_first_byte == Clock::time_point{}) ctx.upstream_first_byte = Clock::now();
    received_any = true;
    upstream_in_.commit(n);
  }
}

// Streams the request body bytes still on the client socket to the upstream.
asio::awaitable<HttpSession::UpstreamError> HttpSession::stream_rest_of_body(net::UpstreamConnection& conn,
                                                                             RequestContext& ctx,
                                                                             bool chunked, uint64_t sent) {
  const size_t limit = ctx.snapshot->properties.client_max_body_size;
  uint64_t total = sent;
  std::string chunk_head;
  while (!request_body_done_) {
    size_t available = 0;
    char* space = in_.prepare(16 * 1024, available);
    deadline_.arm(kClientBodyTimeout, client_);
    auto [ec, n] = co_await client_.read_some(asio::buffer(space, available));
    deadline_.disarm();
    if (ec) co_return UpstreamError::closed_early;
    in_.commit(n);
    ctx.request_bytes += n;
    size_t consumed = 0;
    auto status = parser_.feed(in_.readable(), consumed);
    if (status == http::Parser::Status::error) co_return UpstreamError::bad_request_body;
    if (status == http::Parser::Status::message_complete) request_body_done_ = true;
    out_.clear();
    for (auto piece : parser_.body()) {
      total += piece.size();
      if (chunked) {
        chunk_head = fmt::format("{:x}\r\n", piece.size());
        out_.emplace_back(asio::buffer(chunk_prefixes_.emplace_back(chunk_head)));
      }
      out_.emplace_back(asio::buffer(piece));
      if (chunked) out_.emplace_back(asio::buffer("\r\n", 2));
    }
    if (chunked && request_body_done_) out_.emplace_back(asio::buffer("0\r\n\r\n", 5));
    if (limit > 0 && total > limit) co_return UpstreamError::body_too_large;
    if (!out_.empty()) {
      deadline_.arm(write_timeout(ctx), conn.socket);
      auto [wec, written] = co_await conn.stream.write(out_);
      deadline_.disarm();
      if (wec) co_return UpstreamError::write;
    }
    chunk_prefixes_.clear();
    in_.consume(consumed);
  }
  co_return UpstreamError::none;
}

// The next part of the upstream response body, for forward_response and buffer_response: the
// bytes already buffered, else what the next read brings within the read timeout. Its pieces are
// views into upstream_in_, valid until the next call.
asio::awaitable<HttpSession::BodyRead> HttpSession::next_upstream_body_part(net::UpstreamConnection& conn,
                                                                            const RequestContext& ctx,
                                                                            http::Parser& parser) {
  if (upstream_in_.empty()) {
    size_t available = 0;
    char* space = upstream_in_.prepare(16 * 1024, available);
    deadline_.arm(read_timeout(ctx), conn.socket);
    auto [ec, n] = co_await conn.stream.read_some(asio::buffer(space, available));
    deadline_.disarm();
    if (ec) {
      // A body delimited by the connection's end; otherwise deadline_.expired() tells a timeout.
      if (ec == asio::error::eof && parser.needs_eof() &&
          parser.finish() == http::Parser::Status::message_complete)
        co_return BodyRead{BodyPart::last_at_eof, {}, {}};
      co_return BodyRead{BodyPart::failed, {}, ec};
    }
    upstream_in_.commit(n);
  }
  size_t consumed = 0;
  auto status = parser.feed(upstream_in_.readable(), consumed);
  upstream_in_.consume(consumed);  // the body views stay valid: consume() never moves bytes
  if (status == http::Parser::Status::error) {
    spdlog::error("upstream {} sent an invalid response body: {}", ctx.upstream_addr, parser.error_reason());
    co_return BodyRead{BodyPart::malformed, {}, {}};
  }
  const auto part = status == http::Parser::Status::message_complete ? BodyPart::last : BodyPart::more;
  co_return BodyRead{part, parser.body(), {}};
}

asio::awaitable<HttpSession::Outcome> HttpSession::forward_response(
    std::unique_ptr<net::UpstreamConnection> conn, RequestContext& ctx, http::Parser& parser) {
  const auto& req = *ctx.request;
  auto& resp = parser.response();
  ctx.upstream_status = resp.status;
  ctx.response.status = resp.status;
  response_streamed_ = true;

  const bool no_body = req.method == "HEAD" || status_has_no_body(resp.status);
  // A plugin keeping a copy of the response (proxy-cache) sees the head before it is written.
  auto tap = std::move(ctx.response_tap);
  if (tap && !tap->head(ctx, resp.status, resp.headers)) tap.reset();
  const bool client_http11 = req.version_minor >= 1;
  const bool known_length = resp.content_length.has_value();
  const bool chunk_to_client = !no_body && !known_length && client_http11;
  bool keep_client = req.keep_alive && (no_body || known_length || client_http11) &&
                     !worker_.host().draining() && !websocket_;

  head_out_.clear();
  append_status_line(head_out_, resp.status,
                     resp.reason.empty() ? http::reason_phrase(resp.status) : std::string_view(resp.reason));
  append_proxied_headers(head_out_, resp.headers, ctx.response.headers);
  if (known_length && (!no_body || req.method == "HEAD"))
    append_content_length(head_out_, *resp.content_length);
  if (chunk_to_client) head_out_ += "Transfer-Encoding: chunked\r\n";
  add_gateway_headers(head_out_, ctx, true);
  if (!keep_client) head_out_ += "Connection: close\r\n";
  head_out_ += "\r\n";

  // Body: the head goes out with the body bytes that came with it (alone when there are none yet),
  // then each part as it arrives.
  bool upstream_reusable = true;
  std::string chunk_head;
  out_.clear();
  out_.emplace_back(asio::buffer(head_out_));
  if (no_body || upstream_in_.empty()) {
    const bool written = co_await write_client(out_, ctx);
    if (!written) co_return Outcome::close;
    out_.clear();
  }
  bool done = no_body;
  while (!done) {
    const auto read = co_await next_upstream_body_part(*conn, ctx, parser);
    if (read.part == BodyPart::malformed) {
      // The upstream connection is dropped (never pooled). While no byte went to the client, it
      // can still get a proper 502; after that, cutting its connection is all there is.
      if (ctx.response_bytes == 0) co_return co_await respond(ctx, 502, http::kong_default_message(502));
      co_return Outcome::close;
    }
    if (read.part == BodyPart::failed) {
      spdlog::error("upstream {} failed while sending the response body: {}", ctx.upstream_addr,
                    deadline_.expired() ? "timed out" : read.error.message());
      co_return Outcome::close;  // the head is gone already: all we can do is cut the connection
    }
    done = read.part != BodyPart::more;
    if (read.part == BodyPart::last_at_eof) upstream_reusable = false;
    for (auto piece : read.pieces)
      if (tap && !tap->body(piece)) tap.reset();
    for (auto piece : read.pieces) {
      if (piece.empty()) continue;
      if (chunk_to_client) {
        chunk_head = fmt::format("{:x}\r\n", piece.size());
        out_.emplace_back(asio::buffer(chunk_prefixes_.emplace_back(chunk_head)));
      }
      out_.emplace_back(asio::buffer(piece));
      if (chunk_to_client) out_.emplace_back(asio::buffer("\r\n", 2));
    }
    if (done && chunk_to_client) out_.emplace_back(asio::buffer("0\r\n\r\n", 5));
    if (!out_.empty() && !co_await write_client(out_, ctx)) co_return Outcome::close;
    chunk_prefixes_.clear();
    out_.clear();
  }
  ctx.end = Clock::now();
  if (tap) tap->end(ctx);
  // An upstream that refused an upgrade may still take what follows for the new protocol: never reused.
  if (upstream_reusable && resp.keep_alive && upstream_in_.empty() && !websocket_)
    worker_.pool().give_back(std::move(conn));
  if (!known_length && !client_http11) keep_client = false;
  co_return keep_client ? Outcome::keep_alive : Outcome::close;
}

// The upstream's 101. To a WebSocket handshake: passed to the client (headers as forward_response
// writes them, with Kong's Upgrade and Connection), then the two connections are one tunnel until
// it ends; neither is used for HTTP again. To any other request (Kong never forwarded its Upgrade)
// it is an invalid answer: 502.
asio::awaitable<HttpSession::Outcome> HttpSession::switch_protocols(
    std::unique_ptr<net::UpstreamConnection> conn, RequestContext& ctx) {
  const auto& resp = upstream_parser_.response();
  ctx.upstream_status = resp.status;
  if (!websocket_) {
    spdlog::error("upstream {} sent 101 Switching Protocols to a request without an upgrade",
                  ctx.upstream_addr);
    co_return co_await respond(ctx, 502, http::kong_default_message(502));
  }
  // Every byte of the request (body included) went upstream before its answer was read: what the
  // client sent after it belongs to the tunnel.
  ctx.response.status = resp.status;
  response_streamed_ = true;
  head_out_.clear();
  append_status_line(head_out_, resp.status,
                     resp.reason.empty() ? http::reason_phrase(resp.status) : std::string_view(resp.reason));
  append_proxied_headers(head_out_, resp.headers, ctx.response.headers);
  append_switching_protocols_lines(head_out_, resp.headers);
  add_gateway_headers(head_out_, ctx, true);
  head_out_ += "\r\n";
  out_.clear();
  out_.emplace_back(asio::buffer(head_out_));
  if (!upstream_in_.empty()) out_.emplace_back(asio::buffer(upstream_in_.readable()));  // its first frames
  const bool written = co_await write_client(out_, ctx);
  if (!written) co_return Outcome::close;
  // The session's HTTP buffers are not needed again: a long-lived tunnel keeps only its own.
  const std::string client_bytes(in_.readable());
  in_ = net::Buffer(0);
  upstream_in_ = net::Buffer(0);
  // nginx: proxy_read_timeout (the service's read_timeout) is the tunnel's idle timeout.
  const net::SpliceLimits limits{
      .idle = read_timeout(ctx), .write_to_a = kSendTimeout, .write_to_b = write_timeout(ctx)};
  co_await run_tunnel(client_, conn->stream, client_bytes, ctx, limits);
  co_return Outcome::close;
}

// A request body that broke its framing (bad chunk, cut short, ...): 400 at once, and the client
// connection closes with it (send_gateway_response never keeps a connection after a 400). The
// request's bytes after the error are never read, let alone proxied.
asio::awaitable<HttpSession::Outcome> HttpSession::refuse_bad_request_body(RequestContext& ctx) {
  if (!request_body_malformed()) co_return Outcome::close;  // the client went away: nobody to answer
  spdlog::info("client {}:{} sent an invalid request body: {}", remote_ip_, remote_port_,
               parser_.error_reason());
  co_return co_await respond(ctx, 400, http::kong_default_message(400));
}

asio::awaitable<bool> HttpSession::write_client(std::vector<asio::const_buffer>& buffers,
                                                RequestContext& ctx) {
  boost::system::error_code failed;
  ctx.response_bytes += client_.write_now(buffers, failed);
  if (failed) co_return false;
  if (buffers.empty()) co_return true;
  deadline_.arm(kSendTimeout, client_);
  auto [ec, n] = co_await client_.write(buffers);
  deadline_.disarm();
  ctx.response_bytes += n;
  co_return !ec;
}

// Reads and drops the rest of the request body so the connection can serve the next request.
asio::awaitable<bool> HttpSession::discard_request_body() {
  while (!request_body_done_) {
    // Feed even when nothing is buffered: a body-less request completes on an empty feed.
    size_t consumed = 0;
    auto status = parser_.feed(in_.readable(), consumed);
    in_.consume(consumed);
    if (status == http::Parser::Status::error) co_return false;
    if (status == http::Parser::Status::message_complete) {
      request_body_done_ = true;
      break;
    }
    if (status == http::Parser::Status::headers_complete && consumed > 0) continue;
    size_t available = 0;
    char* space = in_.prepare(16 * 1024, available);
    deadline_.arm(kClientBodyTimeout, client_);
    auto [ec, n] = co_await client_.read_some(asio::buffer(space, available));
    deadline_.disarm();
    if (ec) co_return false;
    in_.commit(n);
  }
  co_return true;
}

void HttpSession::add_gateway_headers(std::string& out, const RequestContext& ctx, bool proxied) const {
  const auto& snap = *ctx.snapshot;
  if (snap.latency_tokens && proxied) {
    out += "X-Kong-Upstream-Latency: "sv;
    append_decimal(out, static_cast<uint64_t>(millis_between(ctx.upstream_start, ctx.upstream_first_byte)));
    out += "\r\nX-Kong-Proxy-Latency: "sv;
    append_decimal(out, static_cast<uint64_t>(millis_between(ctx.start, ctx.upstream_start)));
    out += "\r\n"sv;
  }
  if (!ctx.balancer_cookie.empty() && proxied)
    http::append_header_line(out, "Set-Cookie", ctx.balancer_cookie);
  if (snap.server_tokens) http::append_header_line(out, "Via", kViaToken);
  if (snap.request_id_header) http::append_header_line(out, "X-Kong-Request-Id", ctx.request_id);
}

asio::awaitable<HttpSession::Outcome> HttpSession::respond(RequestContext& ctx, int status,
                                                           std::string_view message) {
  ctx.response.status = status;
  ctx.response.produced_by_gateway = true;
  ctx.response.source = "error";
  ctx.response.headers.set("Content-Type", "application/json; charset=utf-8");
  ctx.response.body = http::json_message_body(message);
  co_return co_await send_gateway_response(ctx);
}

asio::awaitable<HttpSession::Outcome> HttpSession::send_gateway_response(RequestContext& ctx, bool proxied) {
  auto& response = ctx.response;
  // The request body was not read: unless it is already here, closing is the only safe way to
  // stay in sync with the client.
  // After a malformed or timed-out request the connection's framing can't be trusted.
  bool keep = ctx.request && ctx.request->keep_alive && !worker_.host().draining() &&
              parser_.headers_done() && response.status != 400 && response.status != 408 && !websocket_;
  if (keep && !request_body_done_) {
    std::string ignored;
    keep = co_await collect_available_body(ignored);
  }
  static const http::Headers kNoUpstreamHeaders;
  auto tap = std::move(ctx.response_tap);  // a plugin keeping a copy (proxy-cache)
  if (tap && !tap->head(ctx, response.status, kNoUpstreamHeaders)) tap.reset();
  head_out_.clear();
  append_status_line(head_out_, response.status, http::reason_phrase(response.status));
  fmt::format_to(std::back_inserter(head_out_), "Date: {:%a, %d %b %Y %H:%M:%S} GMT\r\n",
                 fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  for (const auto& h : response.headers) {
    if (HopByHop::always(h.name) || iequals(h.name, "date")) continue;
    http::append_header_line(head_out_, h.name, h.value);
  }
  const bool head_request = ctx.request && ctx.request->method == "HEAD";
  if (!status_has_no_body(response.status)) append_content_length(head_out_, response.body.size());
  if (proxied) {
    add_gateway_headers(head_out_, ctx, true);
  } else {
    // Kong: a response it made itself says how long it took (KONG_RESPONSE_LATENCY).
    if (ctx.snapshot->response_latency) {
      head_out_ += "X-Kong-Response-Latency: "sv;
      append_decimal(head_out_, static_cast<uint64_t>(millis_between(ctx.start, Clock::now())));
      head_out_ += "\r\n"sv;
    }
    if (ctx.snapshot->server_tokens && !response.headers.has("server"))
      http::append_header_line(head_out_, "Server", kServerToken);
    if (ctx.snapshot->request_id_header)
      http::append_header_line(head_out_, "X-Kong-Request-Id", ctx.request_id);
  }
  if (!keep) head_out_ += "Connection: close\r\n";
  head_out_ += "\r\n";
  out_.clear();
  out_.emplace_back(asio::buffer(head_out_));
  if (!head_request && !status_has_no_body(response.status)) out_.emplace_back(asio::buffer(response.body));
  bool ok = co_await write_client(out_, ctx);
  ctx.end = Clock::now();
  if (ok && tap && (head_request || status_has_no_body(response.status) || tap->body(response.body)))
    tap->end(ctx);
  co_return ok&& keep ? Outcome::keep_alive : Outcome::close;
}

asio::awaitable<bool> HttpSession::run_phase(RequestContext& ctx, core::Phase phase,
                                             const std::vector<const plugins::ConfiguredPlugin*>& list) {
  auto* runner = worker_.runner();
  if (list.empty() || !runner) co_return false;
  const auto end = co_await runner->run(ctx, phase, list);
  co_return end == plugins::PhaseEnd::responded;
}

// The `log` phase runs after the response went out on the request's own (now final) context:
// every getter keeps working, unlike Kong's snapshot. Native log handlers only count or queue
// (they never wait on I/O), so when every handler is native they run here, before the
// connection's next request, as nginx's log phase does; an external plugin's call may take a
// round trip, so then the context moves into a copy that runs off the request's path.
asio::awaitable<void> HttpSession::run_log_phase(RequestContext& ctx) {
  const auto* plugin_set = ctx.snapshot ? ctx.snapshot->plugins.get() : nullptr;
  if (!plugin_set || !worker_.runner() || !ctx.request) co_return;
  std::vector<const plugins::ConfiguredPlugin*> list;
  if (log_plugins_)
    list = std::move(*log_plugins_);
  else if (ctx.match)
    list = plugin_set->collect(core::Phase::log, ctx.match->route->id,
                               ctx.match->service ? ctx.match->service->id : std::string(),
                               pdk::authenticated_consumer_id(ctx));
  else
    list = plugin_set->globals(core::Phase::log);
  if (list.empty()) co_return;
  // A streamed response's headers are still in the upstream parser (the next request restarts
  // it): only now, with log plugins to read them, are they copied.
  if (response_streamed_)
    ctx.response.headers = merged_response_headers(
        upstream_headers_for_plugins(upstream_parser_.response().headers), ctx.response.headers);
  ctx.read_request_body = nullptr;
  auto* runner = worker_.runner();
  if (std::all_of(list.begin(), list.end(), [](const auto* plugin) { return plugin->is_native(); })) {
    (void)co_await runner->run(ctx, core::Phase::log, list);
    co_return;
  }
  auto log_ctx = std::make_shared<RequestContext>(std::move(ctx));
  log_ctx->request_copy = std::make_shared<http::RequestHead>(*log_ctx->request);
  log_ctx->request = log_ctx->request_copy.get();
  // Counted until it ends, so that draining waits for it (bounded by the drain timeout).
  worker_.active_log_phases++;
  asio::co_spawn(
      client_.get_executor(),
      [runner, log_ctx, list = std::move(list)]() -> asio::awaitable<void> {
        (void)co_await runner->run(*log_ctx, core::Phase::log, list);
      },
      [&worker = worker_](std::exception_ptr) { worker.active_log_phases--; });
}

// Reads the whole request body, once: in memory up to client_body_buffer_size, else into a
// temporary file under the prefix (nginx's client_body_temp), so a request holds at most one
// buffer of it in memory however large it is. Bytes over client_max_body_size are never kept.
// The outcome is kept: a later call (the proxy after a plugin) gets the same answer, never a body
// read again from the middle.
asio::awaitable<HttpSession::BodyOutcome> HttpSession::read_whole_request_body(RequestContext& ctx) {
  if (!request_body_read_) request_body_read_ = co_await spool_request_body(ctx);
  if (*request_body_read_ != BodyOutcome::complete)
    request_body_.reset();  // a refused body's file goes at once
  co_return *request_body_read_;
}

asio::awaitable<HttpSession::BodyOutcome> HttpSession::spool_request_body(RequestContext& ctx) {
  if (request_body_too_large_) co_return BodyOutcome::too_large;
  const bool continued = co_await send_continue_if_expected();
  if (!continued) co_return BodyOutcome::client_gone;
  const auto& props = ctx.snapshot->properties;
  request_body_ =
      std::make_unique<SpooledBody>(props.client_body_buffer_size, props.prefix + "/client_body_temp");
  SpooledBody& spool = *request_body_;
  while (true) {
    const auto feed = take_available_body([&spool](std::string_view piece) { return spool.append(piece); });
    if (feed == BodyFeed::malformed) co_return BodyOutcome::malformed;
    if (feed == BodyFeed::sink_failed) {
      spdlog::error("cannot buffer the request body: {}", spool.error());
      co_return BodyOutcome::storage_failed;
    }
    if (props.client_max_body_size > 0 && spool.size() > props.client_max_body_size) {
      request_body_too_large_ = true;  // a chunked body (a Content-Length one was refused earlier)
      co_return BodyOutcome::too_large;
    }
    if (feed == BodyFeed::complete) break;
    size_t available = 0;
    char* space = in_.prepare(16 * 1024, available);
    deadline_.arm(kClientBodyTimeout, client_);
    auto [ec, n] = co_await client_.read_some(asio::buffer(space, available));
    deadline_.disarm();
    if (ec) co_return BodyOutcome::client_gone;
    in_.commit(n);
    ctx.request_bytes += n;
  }
  if (!spool.finish()) {
    spdlog::error("cannot buffer the request body: {}", spool.error());
    co_return BodyOutcome::storage_failed;
  }
  if (spool.in_file()) {
    ctx.request_body_file = spool.path();
  } else {
    ctx.buffered_request_body = spool.take_memory();
    request_body_.reset();
  }
  co_return BodyOutcome::complete;
}

// kong.request.get_raw_body and friends, before proxying: true when the body is read (the PDK
// finds it in memory or in its file).
asio::awaitable<bool> HttpSession::read_body_for_plugin(RequestContext& ctx) {
  co_return co_await read_whole_request_body(ctx) == BodyOutcome::complete;
}

// The answer when the body could not be read whole: nginx's 413 (over client_max_body_size), 400
// (malformed; the connection's framing is lost), 500 (the temporary file could not be written),
// or nothing to a client that went away.
asio::awaitable<HttpSession::Outcome> HttpSession::refuse_request_body(RequestContext& ctx,
                                                                       BodyOutcome outcome) {
  if (outcome == BodyOutcome::client_gone || outcome == BodyOutcome::malformed)
    co_return co_await refuse_bad_request_body(ctx);
  const int status = outcome == BodyOutcome::too_large ? 413 : 500;
  co_return co_await respond(ctx, status, http::kong_default_message(status));
}

// Expect: 100-continue: the client waits for a go-ahead before it sends the body. Sent once, when
// the body is about to be read and none of it arrived yet.
asio::awaitable<bool> HttpSession::send_continue_if_expected() {
  if (!client_wants_continue_ || !in_.empty()) co_return true;
  client_wants_continue_ = false;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  deadline_.arm(kSendTimeout, client_);
  auto [ec, n] = co_await client_.write(asio::buffer(kContinue));
  deadline_.disarm();
  co_return !ec;
}

// Sends a body kept in a temporary file to the upstream, one buffer at a time.
asio::awaitable<bool> HttpSession::send_spooled_body(net::UpstreamConnection& conn, RequestContext& ctx,
                                                     const SpooledBody& body) {
  std::string buffer(64 * 1024, '\0');
  for (uint64_t offset = 0; offset < body.size();) {
    const long n =
        body.read_at(offset, buffer.data(), std::min<uint64_t>(buffer.size(), body.size() - offset));
    if (n <= 0) {
      spdlog::error("cannot read the buffered request body {}: {}", body.path(),
                    n < 0 ? std::strerror(errno) : "file shorter than the body");
      co_return false;
    }
    offset += static_cast<uint64_t>(n);
    deadline_.arm(write_timeout(ctx), conn.socket);
    auto [ec, written] = co_await conn.stream.write(asio::buffer(buffer.data(), static_cast<size_t>(n)));
    deadline_.disarm();
    if (ec) co_return false;
  }
  co_return true;
}

// Buffered proxying, for requests with `response`-phase plugins: read the whole upstream
// response, let the plugins read and reshape it, then send it.
asio::awaitable<HttpSession::Outcome> HttpSession::buffer_response(
    std::unique_ptr<net::UpstreamConnection> conn, RequestContext& ctx, http::Parser& parser) {
  auto& resp = parser.response();
  auto& sr = ctx.service_response;
  sr.status = resp.status;
  // Plugins see the upstream's Content-Length, as in Kong; the client gets the final body's length
  // (send_gateway_response computes it).
  sr.headers = upstream_headers_for_plugins(resp.headers);
  bool reusable = resp.keep_alive;
  bool done = ctx.request->method == "HEAD" || status_has_no_body(resp.status);
  // The whole body is held in memory: past buffered_response_max_size the upstream is cut off
  // (its connection dropped) and the client gets 502, by the announced length when there is one.
  const uint64_t max_size = ctx.snapshot->properties.buffered_response_max_size;
  const bool too_large = !done && max_size > 0 && resp.content_length && *resp.content_length > max_size;
  if (too_large) co_return co_await refuse_large_response(ctx, max_size);
  while (!done) {
    const auto read = co_await next_upstream_body_part(*conn, ctx, parser);
    if (read.part == BodyPart::malformed)
      co_return co_await respond(ctx, 502, http::kong_default_message(502));
    if (read.part == BodyPart::failed) {
      const int status = deadline_.expired() ? 504 : 502;
      co_return co_await respond(ctx, status, http::kong_default_message(status));
    }
    done = read.part != BodyPart::more;
    if (read.part == BodyPart::last_at_eof) reusable = false;
    uint64_t size = sr.body.size();
    for (auto piece : read.pieces) size += piece.size();
    if (max_size > 0 && size > max_size) co_return co_await refuse_large_response(ctx, max_size);
    for (auto piece : read.pieces) sr.body.append(piece);
  }
  if (reusable && upstream_in_.empty()) worker_.pool().give_back(std::move(conn));
  sr.available = true;
  ctx.upstream_status = sr.status;

  // The client response starts as the upstream's, with the headers plugins already set.
  ctx.response.status = sr.status;
  ctx.response.headers = merged_response_headers(sr.headers, ctx.response.headers);
  ctx.response.body = sr.body;
  auto response_plugins = std::move(response_plugins_);
  co_await run_phase(ctx, core::Phase::response, response_plugins);
  const bool produced = ctx.response.produced_by_gateway;
  co_return co_await send_gateway_response(ctx, !produced);
}

// An upstream response too large to buffer for the response phase: logged once, answered 502
// (Kong's answer when its buffered proxying could not read the upstream's response).
asio::awaitable<HttpSession::Outcome> HttpSession::refuse_large_response(RequestContext& ctx,
                                                                         uint64_t max_size) {
  ctx.upstream_status = upstream_parser_.response().status;
  spdlog::error(
      "upstream {} response body is larger than buffered_response_max_size ({} bytes), needed whole "
      "by the response phase: answering 502",
      ctx.upstream_addr, max_size);
  co_return co_await respond(ctx, 502, http::kong_default_message(502));
}

void HttpSession::finish(RequestContext& ctx) {
  if (ctx.end == Clock::time_point{}) ctx.end = Clock::now();
  worker_.host().access_log().write(ctx);
}

}  // namespace gh::proxy
