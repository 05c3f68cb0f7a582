#include "proxy/request_runloop.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <charconv>
#include <chrono>

#include "common/log.h"
#include "common/strings.h"
#include "common/version.h"
#include "http/kong_responses.h"
#include "pdk/state.h"
#include "plugins/runner.h"
#include "proxy/access_log.h"
#include "proxy/grpc_status.h"
#include "proxy/tunnel.h"

namespace gh::proxy {

namespace asio = boost::asio;

namespace {

long millis_between(Clock::time_point a, Clock::time_point b) {
  if (a == Clock::time_point{} || b == Clock::time_point{} || b < a) return 0;
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

// A header whose value is a count of milliseconds, formatted without allocating.
void add_millis(HeaderSink& sink, std::string_view name, long millis) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, millis).ptr;
  sink.add(name, std::string_view(digits, static_cast<size_t>(end - digits)));
}

}  // namespace

ClientConnection::ClientConnection(Worker& worker, const asio::ip::tcp::socket& socket, uint16_t server_port,
                                   bool is_tls, ConnectionTls tls_facts)
    : worker(worker), server_port(server_port), is_tls(is_tls), tls(std::move(tls_facts)) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (!ec) {
    peer_address = peer.address();
    remote_ip = peer_address.to_string();
    remote_port = peer.port();
  }
}

const std::shared_ptr<const Snapshot>& ClientConnection::current_snapshot() {
  const uint64_t version = worker.host().snapshot_version();
  if (!snapshot_ || version != snapshot_version_) {
    snapshot_version_ = version;
    snapshot_ = worker.host().snapshot();
  }
  return snapshot_;
}

bool ClientConnection::peer_is_trusted(const conf::Properties& props) const {
  for (const auto& cidr : props.trusted_ips)
    if (cidr.contains(peer_address)) return true;
  return false;
}

RequestRunloop::RequestRunloop(ClientConnection& connection, ClientSide& client, net::Deadline& deadline)
    : connection_(connection),
      client_(client),
      worker_(connection.worker),
      upstream_(*this, connection.worker, deadline) {}

void RequestRunloop::prepare(RequestContext& ctx, http::RequestHead& request, uint64_t head_bytes) {
  state_ = RequestState{};
  upstream_.start_request();
  ctx.snapshot = connection_.current_snapshot();
  ctx.request = &request;
  ctx.request_bytes = head_bytes;  // nginx's $request_length: the head, then the body read
  ctx.remote_ip = connection_.remote_ip;
  ctx.remote_port = connection_.remote_port;
  ctx.client_ip = connection_.remote_ip;
  ctx.client_port = connection_.remote_port;
  ctx.server_port = connection_.server_port;
  if (connection_.is_tls) {
    const auto& tls = connection_.tls;
    ctx.scheme = "https";
    ctx.tls_server_name = tls.server_name;
    ctx.tls_protocol = tls.protocol;
    ctx.client_certificate = tls.client_certificate;
    if (!tls.ctx_shared.is_null()) ctx.ctx_shared = tls.ctx_shared;
  }
  ctx.request_id = worker_.new_request_id();
  ctx.peer_trusted = connection_.peer_is_trusted(ctx.snapshot->properties);
}

std::string RequestRunloop::real_client_ip(const RequestContext& ctx) const {
  const std::string& remote_ip = connection_.remote_ip;
  if (!ctx.peer_trusted) return remote_ip;
  const auto& props = ctx.snapshot->properties;
  auto header = ctx.request->headers.get(props.real_ip_header);
  if (!header) return remote_ip;
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
  return remote_ip;
}

asio::awaitable<Outcome> RequestRunloop::run(RequestContext& ctx) {
  const auto& req = *ctx.request;
  state_.websocket = client_.supports_upgrade() && wants_websocket(req);
  ctx.client_ip = real_client_ip(ctx);

  if (req.version_minor >= 1 && !req.headers.has("host")) co_return co_await respond(ctx, 400, "Bad request");
  if (req.headers.count("host") > 1) co_return co_await respond(ctx, 400, "Bad request");
  // CONNECT (a tunnel to the target's authority) is no request to proxy: nginx refuses it so.
  if (req.method == "CONNECT") co_return co_await respond(ctx, 400, "Bad request");

  ctx.body_source = this;
  start_upstream_request(ctx);
  const auto* plugin_set = ctx.snapshot->plugins.get();
  static const std::vector<const plugins::ConfiguredPlugin*> kNoPlugins;
  const auto& rewrite = plugin_set ? plugin_set->globals(core::Phase::rewrite) : kNoPlugins;
  if (!rewrite.empty()) {
    // Kong's rewrite plugins edit the client's request itself (ngx.req.*): they edit its headers.
    ctx.upstream.headers.assign(req.headers);
    const bool answered = co_await run_phase(ctx, core::Phase::rewrite, rewrite);
    if (answered) co_return co_await send_gateway_response(ctx);
  }

  router::RouteRequest route_request;
  route_request.method = req.method;
  route_request.host = req.host();  // an absolute-form target's host wins over Host (RFC 9112 §3.2.2)
  route_request.path = req.path();
  route_request.scheme = ctx.scheme;
  route_request.sni = connection_.tls.server_name;
  route_request.port = connection_.server_port;
  route_request.header_values = [&req](std::string_view name) { return req.headers.get_all(name); };
  ctx.match = ctx.snapshot->router->match(route_request);
  if (!ctx.match) co_return co_await respond(ctx, 404, "no Route matched with those values");

  const auto& route = *ctx.match->route;
  auto route_has = [&route](std::string_view protocol) {
    return std::find(route.protocols.begin(), route.protocols.end(), protocol) != route.protocols.end();
  };
  if (route_has("grpc") || route_has("grpcs")) {
    if (auto refused = grpc_route_mismatch(ctx, route_has("grpc"))) co_return co_await std::move(*refused);
  } else if (!route_has(ctx.scheme)) {
    co_return co_await redirect_to_https(ctx, route_request.host);
  }
  const size_t limit = ctx.snapshot->properties.client_max_body_size;
  if (limit > 0 && req.content_length && *req.content_length > limit)
    co_return co_await respond(ctx, 413, http::kong_default_message(413));

  if (ctx.match->service) prepare_upstream_request(ctx);
  if (plugin_set) {
    const std::string& route_id = ctx.match->route->id;
    static const std::string kNoService;
    const std::string& service_id = ctx.match->service ? ctx.match->service->id : kNoService;
    // Plugins edit the upstream request through kong.service.request.*: their header edits are
    // kept over the forwarded list (after rewrite plugins edited the client's, over a copy).
    const bool may_run = plugin_set->may_run(core::Phase::access, route_id, service_id);
    if (ctx.match->service && !rewrite.empty()) adopt_rewritten_headers(ctx);
    const BaseAttached attached(ctx, *this, ctx.match->service != nullptr);
    if (auto* runner = worker_.runner()) {
      // Each plugin resolved when reached, with the consumer an earlier one may have authenticated.
      plugins::Collector access(*plugin_set, core::Phase::access, route_id, service_id,
                                ctx.authenticated_consumer);
      bool answered = false;
      if (may_run) {
        plugins::PhasePlugins plugins(access);
        std::optional<plugins::PhaseEnd> end = runner->run_now(ctx, core::Phase::access, plugins);
        if (!end) {
          const plugins::PhaseEnd waited = co_await runner->run(ctx, core::Phase::access, plugins);
          end = waited;
        }
        answered = *end == plugins::PhaseEnd::responded;
      }
      // The names not reached (after an exit, as Kong's delayed response, or with no access
      // plugin at all) are still resolved: their log-phase plugins run.
      access.resolve_rest();
      state_.log_plugins = access.resolved(core::Phase::log);
      if (answered) co_return co_await send_gateway_response(ctx, ctx.response.served_as_proxied);
      state_.response_plugins = access.resolved(core::Phase::response);
    }
  }
  if (!ctx.match->service) co_return co_await respond(ctx, 503, "no Service found with those values");
  co_return co_await upstream_.proxy(ctx);
}

// Kong's checks of a request that matched a gRPC route: a gRPC request over HTTP/1.x gets 426, a
// request that is not gRPC 415, a cleartext one on a grpcs-only route gRPC status 1.
std::optional<asio::awaitable<Outcome>> RequestRunloop::grpc_route_mismatch(RequestContext& ctx,
                                                                            bool allows_grpc) {
  const auto& req = *ctx.request;
  const auto type = req.headers.get("content-type");
  if (!type || !type->starts_with("application/grpc"))
    return respond(ctx, 415, "Non-gRPC request matched gRPC route");
  if (req.version_major != 2) {
    ctx.response.headers.set("Connection", "Upgrade");
    ctx.response.headers.set("Upgrade", "HTTP/2");
    return respond(ctx, 426, "Please use HTTP2 protocol");
  }
  if (!allows_grpc && ctx.scheme != "https") {
    ctx.response.status = 200;
    ctx.response.headers.set("Content-Type", "application/grpc");
    ctx.response.headers.set("grpc-status", "1");
    ctx.response.headers.set("grpc-message", "gRPC request matched gRPCs route");
    return send_gateway_response(ctx);
  }
  return std::nullopt;
}

// Kong: https-only routes reached over http answer https_redirect_status_code.
asio::awaitable<Outcome> RequestRunloop::redirect_to_https(RequestContext& ctx, std::string_view host) {
  const int code = ctx.match->route->https_redirect_status_code;
  if (code == 426) co_return co_await respond(ctx, 426, "Please use HTTPS protocol");
  ctx.response.status = code;
  ctx.response.headers.set("Location", "https://" + host_without_port(host) + ctx.request->target);
  co_return co_await send_gateway_response(ctx);
}

// What the upstream request takes from the client's before any plugin runs: method and query.
// Scheme, path and target come from the route and service once routed, unless a rewrite-phase
// plugin set them already (empty = not set).
void RequestRunloop::start_upstream_request(RequestContext& ctx) {
  auto& up = ctx.upstream;
  up.method = ctx.request->method;
  up.query = std::string(ctx.request->query());
  up.scheme.clear();
}

// What goes upstream besides the headers: Kong's path rewriting (done by the router) and the
// target service, where no rewrite-phase plugin (kong.service.*) chose otherwise.
void RequestRunloop::prepare_upstream_request(RequestContext& ctx) {
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

ForwardingInputs RequestRunloop::forwarding_inputs(const RequestContext& ctx) const {
  return ForwardingInputs{
      .request = *ctx.request,
      .match = *ctx.match,
      .client_ip = ctx.client_ip,
      .remote_ip = connection_.remote_ip,
      .scheme = ctx.scheme,
      .server_port = connection_.server_port,
      .trusted_peer = ctx.peer_trusted,
      .server_tokens = ctx.snapshot->server_tokens,
      .request_id = ctx.snapshot->request_id_header ? std::string_view(ctx.request_id) : std::string_view()};
}

void ForwardedHeaders::emit(http::HeaderSink& sink) const {
  emit_upstream_headers(runloop_.forwarding_inputs(ctx_), sink);
}

void ForwardedHeaders::emit_named(std::string_view name, http::HeaderSink& sink) const {
  // Plugins mostly ask about names Kong does not set (X-Consumer-*): the client's list answers
  // those, without the forwarding inputs being gathered.
  if (forwarded_as_sent(name)) return emit_client_headers_named(ctx_.request->headers, name, sink);
  emit_upstream_headers_named(runloop_.forwarding_inputs(ctx_), name, sink);
}

http::HeaderNameFilter ForwardedHeaders::names() const {
  return upstream_header_names(ctx_.request->headers);
}

// After the rewrite phase the upstream list is built from the client's headers as those plugins
// left them (Kong's rewrite edits the request itself), once; a Host they set is the upstream's
// Host (Kong's set_header("host") sets upstream_host).
void RequestRunloop::adopt_rewritten_headers(RequestContext& ctx) {
  auto& up = ctx.upstream;
  const http::Headers edited = up.headers.take();
  // forwarding + plugins' headers: no regrowth
  http::Headers list = http::take_spare_headers(ctx.request->headers.size() + 24);
  HeadersSink sink(list);
  ForwardingInputs inputs = forwarding_inputs(ctx);
  inputs.client_headers = &edited;
  emit_upstream_headers(inputs, sink);
  const auto host = edited.get("host");
  if (host && host != ctx.request->headers.get("host")) list.set("Host", std::string(*host));
  up.headers.assign(std::move(list));
}

void RequestRunloop::add_gateway_headers(HeaderSink& sink, const RequestContext& ctx) const {
  const auto& snap = *ctx.snapshot;
  if (snap.latency_tokens) {
    add_millis(sink, "X-Kong-Upstream-Latency", millis_between(ctx.upstream_start, ctx.upstream_first_byte));
    add_millis(sink, "X-Kong-Proxy-Latency", millis_between(ctx.start, ctx.upstream_start));
  }
  if (!ctx.balancer_cookie.empty()) sink.add("Set-Cookie", ctx.balancer_cookie);
  if (snap.server_tokens) sink.add("Via", kViaToken);
  if (snap.request_id_header) sink.add("X-Kong-Request-Id", ctx.request_id);
}

asio::awaitable<Outcome> RequestRunloop::respond(RequestContext& ctx, int status, std::string_view message) {
  ctx.response.status = status;
  ctx.response.source = "error";
  ctx.response.headers.set("Content-Type", "application/json; charset=utf-8");
  ctx.response.body = http::json_message_body(message);
  co_return co_await send_gateway_response(ctx);
}

asio::awaitable<Outcome> RequestRunloop::send_gateway_response(RequestContext& ctx, bool proxied) {
  auto& response = ctx.response;
  if (!proxied) make_grpc_answer(ctx);
  // The request body was not read: unless it is already here, closing is the only safe way to
  // stay in sync with the client. After a 400 or 408 the framing can't be trusted.
  bool keep =
      !worker_.host().draining() && response.status != 400 && response.status != 408 && !state_.websocket;
  if (keep && !client_.body_done()) {
    pieces_.clear();
    keep = client_.take_body(pieces_) == BodyFeed::complete;
  }
  static const http::Headers kNoUpstreamHeaders;
  auto tap = std::move(ctx.response_tap);  // a plugin keeping a copy (proxy-cache)
  if (tap && !tap->head(ctx, response.status, kNoUpstreamHeaders)) tap.reset();
  HeaderSink& sink = client_.start_response(response.status, http::reason_phrase(response.status));
  char date[40];
  const auto date_end =
      fmt::format_to_n(date, sizeof date, "{:%a, %d %b %Y %H:%M:%S} GMT",
                       fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  sink.add("Date", std::string_view(date, date_end.size));
  for (const auto& h : response.headers) {
    if (HopByHop::always(h.name) || iequals(h.name, "date")) continue;
    sink.add(h.name, h.value);
  }
  const bool head_request = ctx.request && ctx.request->method == "HEAD";
  const bool no_body_status = status_has_no_body(response.status);
  ResponseFraming framing;
  framing.no_body = head_request || no_body_status;
  framing.keep_alive = keep;
  if (!no_body_status) framing.content_length = response.body.size();
  client_.frame_response(framing);
  if (proxied) {
    add_gateway_headers(sink, ctx);
  } else {
    // Kong: a response it made itself says how long it took (KONG_RESPONSE_LATENCY).
    if (ctx.snapshot->response_latency)
      add_millis(sink, "X-Kong-Response-Latency", millis_between(ctx.start, Clock::now()));
    if (ctx.snapshot->server_tokens && !response.headers.has("server")) sink.add("Server", kServerToken);
    if (ctx.snapshot->request_id_header) sink.add("X-Kong-Request-Id", ctx.request_id);
  }
  std::vector<asio::const_buffer> body;
  if (!framing.no_body && !response.body.empty()) body.emplace_back(asio::buffer(response.body));
  // Stored before the client has the last byte (see forward_response).
  if (tap && (framing.no_body || tap->body(response.body))) tap->end(ctx);
  const bool ok = co_await client_.send_head(body, true, ctx);
  ctx.end = Clock::now();
  co_return ok ? client_.response_outcome() : Outcome::close;
}

asio::awaitable<bool> RequestRunloop::run_phase(RequestContext& ctx, core::Phase phase,
                                                const std::vector<const plugins::ConfiguredPlugin*>& list) {
  auto* runner = worker_.runner();
  if (list.empty() || !runner) co_return false;
  plugins::PhasePlugins plugins(list);
  std::optional<plugins::PhaseEnd> end = runner->run_now(ctx, phase, plugins);
  if (!end) {
    const plugins::PhaseEnd waited = co_await runner->run(ctx, phase, plugins);
    end = waited;
  }
  co_return *end == plugins::PhaseEnd::responded;
}

asio::awaitable<void> RequestRunloop::complete(RequestContext& ctx) {
  state_.body_file.reset();  // removes a temporary body file: nothing reads it after the response
  write_access_log(ctx);
  co_await run_log_phase(ctx);
}

void RequestRunloop::write_access_log(RequestContext& ctx) {
  if (ctx.end == Clock::time_point{}) ctx.end = Clock::now();
  worker_.host().access_log().write(ctx);
}

// The `log` phase runs after the response went out on the request's own (now final) context:
// every getter keeps working, unlike Kong's snapshot. Native log handlers only count or queue
// (they never wait on I/O), so when every handler is native they run here, before the
// connection's next request, as nginx's log phase does; an external plugin's call may take a
// round trip, so then the context moves into a copy that runs off the request's path.
asio::awaitable<void> RequestRunloop::run_log_phase(RequestContext& ctx) {
  const auto* plugin_set = ctx.snapshot ? ctx.snapshot->plugins.get() : nullptr;
  if (!plugin_set || !worker_.runner() || !ctx.request) co_return;
  std::vector<const plugins::ConfiguredPlugin*> list;
  if (state_.log_plugins)
    list = std::move(*state_.log_plugins);
  else if (ctx.match)
    list = plugin_set->collect(core::Phase::log, ctx.match->route->id,
                               ctx.match->service ? ctx.match->service->id : std::string(),
                               pdk::authenticated_consumer_id(ctx));
  else
    list = plugin_set->globals(core::Phase::log);
  if (list.empty()) co_return;
  // A streamed response's headers are still in the upstream parser (the next request restarts
  // it): only now, with log plugins that read them, are they copied.
  const bool headers_read = std::any_of(list.begin(), list.end(), [](const auto* plugin) {
    return !plugin->is_native() || plugin->native->log_reads_response_headers;
  });
  if (const auto* streamed = headers_read ? upstream_.streamed_response_headers() : nullptr)
    ctx.response.headers =
        merged_response_headers(upstream_headers_for_plugins(*streamed), ctx.response.headers);
  ctx.body_source = nullptr;
  auto* runner = worker_.runner();
  if (std::all_of(list.begin(), list.end(), [](const auto* plugin) { return plugin->is_native(); })) {
    plugins::PhasePlugins plugins(list);
    if (!runner->run_now(ctx, core::Phase::log, plugins))
      (void)co_await runner->run(ctx, core::Phase::log, plugins);
    co_return;
  }
  auto log_ctx = std::make_shared<RequestContext>(std::move(ctx));
  log_ctx->request_copy = std::make_shared<http::RequestHead>(*log_ctx->request);
  log_ctx->request = log_ctx->request_copy.get();
  // Counted until it ends, so that draining waits for it (bounded by the drain timeout).
  worker_.active_log_phases++;
  asio::co_spawn(
      worker_.io(),
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
asio::awaitable<RequestRunloop::BodyOutcome> RequestRunloop::read_whole_request_body(RequestContext& ctx) {
  if (!state_.body_read) state_.body_read = co_await spool_request_body(ctx);
  if (*state_.body_read != BodyOutcome::complete)
    state_.body_file.reset();  // a refused body's file goes at once
  co_return *state_.body_read;
}

asio::awaitable<RequestRunloop::BodyOutcome> RequestRunloop::spool_request_body(RequestContext& ctx) {
  if (state_.body_too_large) co_return BodyOutcome::too_large;
  const bool continued = co_await client_.send_continue_if_expected();
  if (!continued) co_return BodyOutcome::client_gone;
  const auto& props = ctx.snapshot->properties;
  state_.body_file =
      std::make_unique<SpooledBody>(props.client_body_buffer_size, props.prefix + "/client_body_temp");
  SpooledBody& spool = *state_.body_file;
  while (true) {
    pieces_.clear();
    const auto feed = client_.take_body(pieces_);
    if (feed == BodyFeed::malformed) co_return BodyOutcome::malformed;
    for (auto piece : pieces_) {
      if (spool.append(piece)) continue;
      spdlog::error("cannot buffer the request body: {}", spool.error());
      co_return BodyOutcome::storage_failed;
    }
    if (props.client_max_body_size > 0 && spool.size() > props.client_max_body_size) {
      state_.body_too_large = true;  // a chunked body (a Content-Length one was refused earlier)
      co_return BodyOutcome::too_large;
    }
    if (feed == BodyFeed::complete) break;
    const bool received = co_await client_.receive_body(ctx.request_bytes);
    if (!received) co_return BodyOutcome::client_gone;
  }
  if (!spool.finish()) {
    spdlog::error("cannot buffer the request body: {}", spool.error());
    co_return BodyOutcome::storage_failed;
  }
  if (spool.in_file()) {
    ctx.request_body_file = spool.path();
  } else {
    ctx.buffered_request_body = spool.take_memory();
    state_.body_file.reset();
  }
  co_return BodyOutcome::complete;
}

// kong.request.get_raw_body and friends, before proxying: true when the body is read (the PDK
// finds it in memory or in its file).
asio::awaitable<bool> RequestRunloop::read_whole_body(RequestContext& ctx) {
  co_return co_await read_whole_request_body(ctx) == BodyOutcome::complete;
}

// The answer when the body could not be read whole: nginx's 413 (over client_max_body_size), 400
// (malformed; the connection's framing is lost), 500 (the temporary file could not be written),
// or nothing to a client that went away.
asio::awaitable<Outcome> RequestRunloop::refuse_request_body(RequestContext& ctx, BodyOutcome outcome) {
  if (outcome == BodyOutcome::client_gone || outcome == BodyOutcome::malformed)
    co_return co_await refuse_bad_request_body(ctx);
  const int status = outcome == BodyOutcome::too_large ? 413 : 500;
  co_return co_await respond(ctx, status, http::kong_default_message(status));
}

// A request body that broke its framing (bad chunk, cut short, ...): 400 at once, and the client
// connection closes with it (a 400 never keeps a connection). The request's bytes after the
// error are never read, let alone proxied.
asio::awaitable<Outcome> RequestRunloop::refuse_bad_request_body(RequestContext& ctx) {
  if (!client_.body_malformed()) co_return Outcome::close;  // the client went away: nobody to answer
  spdlog::info("client {}:{} sent an invalid request body: {}", connection_.remote_ip,
               connection_.remote_port, client_.body_error());
  co_return co_await respond(ctx, 400, http::kong_default_message(400));
}

asio::awaitable<bool> RequestRunloop::discard_request_body() {
  uint64_t dropped = 0;  // not the request's: nginx's $request_length counts what was read for it
  while (true) {
    pieces_.clear();
    const auto feed = client_.take_body(pieces_);
    if (feed == BodyFeed::complete) co_return true;
    if (feed == BodyFeed::malformed) co_return false;
    const bool received = co_await client_.receive_body(dropped);
    if (!received) co_return false;
  }
}

}  // namespace gh::proxy
