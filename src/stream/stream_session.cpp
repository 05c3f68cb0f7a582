#include "stream/stream_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <vector>

#include "common/log.h"
#include "core/request_context.h"
#include "net/byte_stream.h"
#include "net/deadline.h"
#include "net/splice.h"
#include "plugins/runner.h"
#include "tls/client_hello.h"
#include "upstream/connector.h"

namespace gh::stream {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kPrereadTimeout = 30s;    // nginx preread_timeout
constexpr auto kHandshakeTimeout = 60s;  // nginx ssl_handshake_timeout
constexpr size_t kMaxHelloBytes = 16384 + 5;
// nginx's stream $status values that Kong uses.
constexpr int kStreamOk = 200;
constexpr int kStreamBadRequest = 400;
constexpr int kStreamInternalError = 500;
constexpr int kStreamBadGateway = 502;

// Waits for the client's first TLS record and reads its SNI without consuming a byte: the bytes
// go either to OpenSSL (terminated here) or, untouched, to the upstream (tls_passthrough).
asio::awaitable<tls::ClientHelloPeek> peek_client_hello(tcp::socket& socket, net::Deadline& deadline) {
  std::vector<char> buffer(kMaxHelloBytes);
  asio::steady_timer pause(socket.get_executor());
  deadline.arm(kPrereadTimeout, socket);
  tls::ClientHelloPeek peek{tls::ClientHelloPeek::Status::not_tls, ""};
  while (!deadline.expired()) {
    auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, kTuple);
    if (ec) break;
    ssize_t n = ::recv(socket.native_handle(), buffer.data(), buffer.size(), MSG_PEEK);
    if (n <= 0) break;
    peek = tls::peek_client_hello(std::string_view(buffer.data(), static_cast<size_t>(n)));
    if (peek.status != tls::ClientHelloPeek::Status::need_more) break;
    peek.status = tls::ClientHelloPeek::Status::not_tls;
    if (static_cast<size_t>(n) == buffer.size()) break;
    // The rest of the hello is on its way (a ClientHello over two segments): look again shortly.
    pause.expires_after(5ms);
    co_await pause.async_wait(kTuple);
  }
  deadline.disarm();
  co_return peek;
}

class StreamSession {
 public:
  StreamSession(tcp::socket socket, bool ssl, StreamEnvironment& env, StreamConfiguration config)
      : raw_(std::move(socket)),
        ssl_(ssl),
        env_(env),
        config_(std::move(config)),
        deadline_(raw_.get_executor()),
        connector_(upstream::ConnectorResources{raw_.get_executor(), env_.resolver, nullptr,
                                                [contexts = config_.upstream_tls] { return contexts; }},
                   deadline_) {}

  asio::awaitable<void> run() {
    describe_connection();
    ctx_.response.status = kStreamBadRequest;  // until routed: a failed handshake, no ClientHello
    co_await serve();
    deadline_.stop();
    close_all();
    ctx_.end = Clock::now();
    if (env_.access_log) env_.access_log->write(ctx_);
    start_log_phase();
  }

 private:
  void describe_connection() {
    boost::system::error_code ec;
    auto peer = raw_.remote_endpoint(ec);
    auto local = raw_.local_endpoint(ec);
    request_.source_ip = peer.address();
    request_.source_port = peer.port();
    request_.destination_ip = local.address();
    request_.destination_port = local.port();
    raw_.set_option(tcp::no_delay(true), ec);
    if (config_.prepare_context) config_.prepare_context(ctx_);
    ctx_.remote_ip = ctx_.client_ip = peer.address().to_string();
    ctx_.remote_port = ctx_.client_port = peer.port();
    ctx_.server_port = local.port();
  }

  // Every awaited result goes through a local first: GCC 12 miscompiles a co_await in the
  // condition of an `if` whose body is a bare `co_return` (GCC PR 106188: a wrong coroutine frame
  // layout; the first stream connection died of SIGILL, an invalid resume index).
  asio::awaitable<void> serve() {
    const bool accepted = co_await accept_client();
    if (!accepted) co_return;
    const bool routed = co_await route_and_preread();
    if (!routed) co_return;
    co_await proxy();
  }

  // Plain TCP, TLS terminated here, or TLS passed through untouched (decided by the SNI).
  asio::awaitable<bool> accept_client() {
    if (!ssl_) {
      protocol_ = "tcp";
      client_.emplace(std::move(raw_));
      co_return true;
    }
    auto hello = co_await peek_client_hello(raw_, deadline_);
    if (hello.status != tls::ClientHelloPeek::Status::ok) {
      spdlog::debug("stream {}:{}: no TLS ClientHello; closed", ctx_.remote_ip, ctx_.remote_port);
      co_return false;
    }
    sni_ = hello.server_name;
    request_.sni = sni_;
    request_.protocol = "tls_passthrough";
    if (config_.router->match(request_)) {
      protocol_ = "tls_passthrough";
      client_.emplace(std::move(raw_));
      co_return true;
    }
    protocol_ = "tls";
    ctx_.scheme = "tls";
    client_.emplace(tls::ServerTls::stream(std::move(raw_), config_.server_tls));
    tls::HandshakeState state;
    tls::CertificatePhase phase = env_.certificates ? env_.certificates->certificate_phase(ctx_) : nullptr;
    auto ec = co_await tls::accept_handshake(*client_, state, deadline_, kHandshakeTimeout, phase);
    if (ec) {
      spdlog::debug("stream {}:{}: TLS handshake failed: {}", ctx_.remote_ip, ctx_.remote_port,
                    state.refused ? "refused in the certificate phase" : ec.message());
      co_return false;
    }
    ctx_.tls_server_name = sni_;
    ctx_.tls_protocol = tls::protocol_name(*client_);
    co_return true;
  }

  asio::awaitable<bool> route_and_preread() {
    request_.protocol = protocol_;
    ctx_.scheme = protocol_ == "tls_passthrough" ? "tls" : protocol_;
    auto match = config_.router->match(request_);
    if (!match) {
      spdlog::info("stream {}:{}: no Route matched ({} to port {}{}{})", ctx_.remote_ip, ctx_.remote_port,
                   protocol_, request_.destination_port, sni_.empty() ? "" : ", SNI ", sni_);
      ctx_.response.status = kStreamInternalError;  // Kong: exit(500) when no route matches
      co_return false;
    }
    match_ = *match;
    ctx_.match = router::RouteMatch{match_.route, match_.service, "", "", "", {}, {}};
    if (!match_.service) {
      spdlog::info("stream {}:{}: Route '{}' has no Service; closed", ctx_.remote_ip, ctx_.remote_port,
                   match_.route->name);
      ctx_.response.status = kStreamBadGateway;
      co_return false;
    }
    prepare_upstream();
    auto preread = stream_plugins(core::Phase::preread);
    bool answered = false;
    if (!preread.empty()) {
      const auto end = co_await env_.runner->run(ctx_, core::Phase::preread, preread);
      answered = end == plugins::PhaseEnd::responded;
    }
    if (answered) {
      co_await answer_exit();
      co_return false;
    }
    co_return true;
  }

  // The plugins of this connection's route and service for `phase`. Kong's stream subsystem only
  // loads plugins whose `protocols` name a stream protocol (the default, http/https/grpc/grpcs,
  // does not).
  std::vector<const plugins::ConfiguredPlugin*> stream_plugins(core::Phase phase) const {
    if (!config_.plugins || !env_.runner || !match_.route) return {};
    auto list = config_.plugins->collect(
        phase, match_.route->id, match_.service ? std::string_view(match_.service->id) : std::string_view());
    std::erase_if(list, [](const plugins::ConfiguredPlugin* p) {
      const auto& protocols = p->entity->protocols;
      return std::none_of(protocols.begin(), protocols.end(),
                          [](const auto& x) { return is_stream_protocol(x); });
    });
    return list;
  }

  // kong.response.exit in the stream subsystem (Kong's send_stream): the status only reaches the
  // log; a body goes to the client when the status is below 400, otherwise to the error log (a
  // plugin failure's 500 message too). Then the connection closes.
  asio::awaitable<void> answer_exit() {
    const auto& body = ctx_.response.body;
    if (ctx_.response.status >= 400) {
      spdlog::error("stream {}:{}: unable to proxy stream connection, status: {}, err: {}", ctx_.remote_ip,
                    ctx_.remote_port, ctx_.response.status, body);
      co_return;
    }
    if (body.empty()) co_return;
    deadline_.arm(std::chrono::milliseconds(match_.service->write_timeout_ms), *client_);
    auto [ec, written] = co_await client_->write(asio::buffer(body));
    deadline_.disarm();
    ctx_.response_bytes += written;
    boost::system::error_code ignored;
    client_->socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // ctx.upstream as the service says, before preread (kong.service.set_target may change it).
  void prepare_upstream() {
    const auto& service = *match_.service;
    ctx_.upstream.scheme = service.protocol;
    ctx_.upstream.host = service.host;
    ctx_.upstream.port = service.port;
  }

  // A new connection (TCP, or TLS for `protocol: tls` services, SNI and verification as the
  // service says) to the service's host or its upstream's targets, never a pooled one.
  asio::awaitable<void> proxy() {
    ctx_.upstream_start = Clock::now();
    tries_ = env_.dialer->tries(ctx_);
    const bool connected = co_await tries_->connect(connector_, upstream_);
    if (!connected) co_return;
    ctx_.response.status = kStreamOk;
    const auto& service = *match_.service;
    const auto idle = std::chrono::milliseconds(std::max(service.read_timeout_ms, service.write_timeout_ms));
    const auto result =
        co_await net::splice(*client_, upstream_->stream, net::SpliceLimits{idle, idle, idle});
    ctx_.request_bytes += result.a_to_b;
    ctx_.response_bytes += result.b_to_a;
    if (result.end == net::SpliceResult::End::idle_timeout)
      spdlog::info("stream {}:{}: idle for {} ms, closed", ctx_.remote_ip, ctx_.remote_port, idle.count());
    tries_->ended(ctx_.response.status);
  }

  void close_all() {
    boost::system::error_code ignored;
    if (client_) client_->socket().close(ignored);
    if (upstream_) upstream_->socket.close(ignored);
    raw_.close(ignored);
  }

  void start_log_phase() {
    auto list = stream_plugins(core::Phase::log);
    if (list.empty()) return;
    auto log_ctx = std::make_shared<core::RequestContext>(std::move(ctx_));
    auto* runner = env_.runner;
    // Counted until it ends, so that draining waits for it (bounded by the drain timeout).
    auto* counter = env_.active_log_phases;
    if (counter) ++*counter;
    asio::co_spawn(
        raw_.get_executor(),
        [runner, log_ctx, list = std::move(list), keep = config_.keep_alive]() -> asio::awaitable<void> {
          (void)co_await runner->run(*log_ctx, core::Phase::log, list);
        },
        [counter](std::exception_ptr) {
          if (counter) --*counter;
        });
  }

  using Clock = core::Clock;
  tcp::socket raw_;
  bool ssl_;
  StreamEnvironment& env_;
  StreamConfiguration config_;
  net::Deadline deadline_;
  upstream::Connector connector_;
  std::optional<net::ByteStream> client_;
  std::unique_ptr<ServiceTries> tries_;  // before upstream_: the balancer's pick outlives the socket
  std::unique_ptr<net::UpstreamConnection> upstream_;
  StreamRequest request_;
  std::string protocol_;
  std::string sni_;
  StreamMatch match_;
  core::RequestContext ctx_;
};

}  // namespace

asio::awaitable<void> serve_stream(tcp::socket socket, bool ssl, StreamEnvironment& environment,
                                   StreamConfiguration configuration) {
  StreamSession session(std::move(socket), ssl, environment, std::move(configuration));
  co_await session.run();
}

}  // namespace gh::stream
