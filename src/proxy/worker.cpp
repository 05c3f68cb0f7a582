#include "proxy/worker.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "net/listener.h"
#include "plugins/runner.h"
#include "plugins/shared_memory.h"
#include "proxy/http1_connection.h"
#include "proxy/http2_connection.h"
#include "tls/client_certificate.h"
#include "tls/handshake.h"

namespace gh::proxy {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto kHandshakeTimeout = 60s;  // nginx applies client_header_timeout to the handshake
}  // namespace

Worker::Worker(int index, WorkerHost& host)
    : index_(index), host_(host), resolver_(io_.get_executor()), random_(std::random_device{}() + index) {
  // Always: native plugins run without any plugin server.
  runner_ = std::make_unique<plugins::PhaseRunner>(io_.get_executor(), host_.plugin_runtime(),
                                                   host_.shared_memory().metrics);
  stream_environment_ = std::make_unique<stream::StreamEnvironment>(stream::StreamEnvironment{
      resolver_, runner_.get(), this, host_.stream_access_log(), &active_log_phases, &stream_dialer_});
}

Worker::~Worker() {
  stop();
  join();
}

void Worker::listen(const std::vector<conf::ListenAddress>& addresses) {
  for (const auto& address : addresses) open(address, false);
}

void Worker::listen_stream(const std::vector<conf::ListenAddress>& addresses) {
  for (const auto& address : addresses) open(address, true);
}

void Worker::open(const conf::ListenAddress& address, bool stream) {
  if (address.ssl) server_tls();  // builds the context (and the default certificate) now
  net::ListenOptions options{address.host, address.port, address.backlog, true};
  listeners_.push_back(
      {std::make_unique<asio::ip::tcp::acceptor>(net::open_listener(io_.get_executor(), options)),
       address.ssl, stream, address.http2});
}

void Worker::start() {
  const auto& props = host_.snapshot()->properties;
  pool_.set_limits({static_cast<size_t>(props.upstream_keepalive_pool_size),
                    props.upstream_keepalive_max_requests,
                    std::chrono::seconds(props.upstream_keepalive_idle_timeout)});
  for (auto& listener : listeners_)
    asio::co_spawn(io_, accept_loop(listener, listener.acceptor->local_endpoint().port()), asio::detached);
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {} stopped: {}", index_, e.what());
    }
  });
}

asio::awaitable<void> Worker::accept_loop(Listener& listener, uint16_t port) {
  auto& acceptor = *listener.acceptor;
  net::AcceptFailures failures(io_.get_executor());
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      co_await failures.handle(ec, fmt::format("port {} (worker {})", port, index_));
      continue;
    }
    active_connections++;
    count(connections_accepted);
    asio::co_spawn(
        io_,
        [this, s = std::move(socket), port, is_tls = listener.tls, is_stream = listener.stream,
         is_http2 = listener.http2]() mutable -> asio::awaitable<void> {
          if (is_stream) {
            co_await stream::serve_stream(std::move(s), is_tls, *stream_environment_,
                                          stream_configuration(is_tls));
          } else if (is_tls) {
            co_await serve_tls(std::move(s), port, is_http2);
          } else if (is_http2) {
            co_await serve_h2c_or_http1(std::move(s), port);
          } else {
            Http1Connection session(*this, net::ByteStream(std::move(s)), port);
            co_await session.run();
          }
        },
        [this](std::exception_ptr e) {
          active_connections--;
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              spdlog::error("connection ended by an unexpected error: {}", ex.what());
            }
          }
        });
  }
}

// The handshake (with the certificate phase), then HTTP/1.1 over TLS. A failed handshake (scanner,
// wrong protocol, client that rejects the certificate, plugin refusal) ends the connection with a
// debug line: nothing was requested.
// A cleartext `http2` listener serves HTTP/1.1 and prior-knowledge HTTP/2 (h2c) alike, as nginx
// does since 1.25.1: a connection whose first bytes are the HTTP/2 preface is HTTP/2. At most the
// preface's 24 bytes are read to decide; they go to whichever connection takes over.
asio::awaitable<void> Worker::serve_h2c_or_http1(asio::ip::tcp::socket socket, uint16_t port) {
  std::string received;
  net::Deadline deadline(io_.get_executor());
  deadline.arm(kHandshakeTimeout, socket);  // client_header_timeout, as for a TLS handshake
  while (received.size() < kHttp2Preface.size() && kHttp2Preface.starts_with(received)) {
    char bytes[kHttp2Preface.size()];
    auto [ec, n] = co_await socket.async_read_some(
        asio::buffer(bytes, kHttp2Preface.size() - received.size()), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // gone (or silent) before sending anything
    received.append(bytes, n);
  }
  deadline.stop();
  if (received == kHttp2Preface) {
    Http2Connection connection(*this, net::ByteStream(std::move(socket)), port, {}, received);
    co_await connection.run();
  } else {
    Http1Connection connection(*this, net::ByteStream(std::move(socket)), port, {}, received);
    co_await connection.run();
  }
}

asio::awaitable<void> Worker::serve_tls(asio::ip::tcp::socket socket, uint16_t port, bool http2) {
  boost::system::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto peer = socket.remote_endpoint(ignored);
  auto stream = tls::ServerTls::stream(std::move(socket), server_tls());
  RequestContext handshake;  // what the certificate phase's plugins see: a connection, no request
  handshake.remote_ip = handshake.client_ip = peer.address().to_string();
  handshake.remote_port = handshake.client_port = peer.port();
  handshake.server_port = port;
  handshake.scheme = "https";
  tls::HandshakeState state;
  state.offer_h2 = http2;
  net::Deadline deadline(io_.get_executor());
  auto phase = certificate_phase(handshake);
  auto ec = co_await tls::accept_handshake(stream, state, deadline, kHandshakeTimeout, phase);
  deadline.stop();
  if (ec) {
    spdlog::debug("TLS handshake with {}:{} failed: {}", handshake.remote_ip, handshake.remote_port,
                  state.refused        ? "refused in the certificate phase"
                  : deadline.expired() ? "timed out"
                                       : ec.message());
    co_return;
  }
  ConnectionTls tls{std::move(state.server_name), tls::protocol_name(stream), std::move(handshake.ctx_shared),
                    tls::client_certificate(stream.tls_stream()->native_handle())};
  if (tls::negotiated_h2(stream)) {
    Http2Connection connection(*this, std::move(stream), port, std::move(tls));
    co_await connection.run();
  } else {
    Http1Connection connection(*this, std::move(stream), port, std::move(tls));
    co_await connection.run();
  }
}

tls::CertificatePhase Worker::certificate_phase(RequestContext& ctx) {
  auto snapshot = host_.snapshot();
  const auto* plugin_set = snapshot->plugins.get();
  if (!plugin_set || !runner_) return nullptr;
  auto list = plugin_set->globals(core::Phase::certificate);
  if (list.empty()) return nullptr;
  return [this, &ctx, snapshot, list = std::move(list)](tls::HandshakeState& state) -> asio::awaitable<void> {
    ctx.snapshot = snapshot;
    ctx.request_id = new_request_id();
    ctx.tls_server_name = state.server_name;
    ctx.handshake_ssl = state.ssl;
    const auto end = co_await runner_->run(ctx, core::Phase::certificate, list);
    ctx.handshake_ssl = nullptr;  // the handshake goes on without the plugins
    // A plugin failure (fail_closed) or kong.response.exit: no certificate, no connection.
    state.refused = end == plugins::PhaseEnd::responded;
  };
}

std::shared_ptr<const tls::UpstreamTls> Worker::upstream_tls() {
  auto snapshot = host_.snapshot();
  if (!upstream_tls_ || upstream_tls_generation_ != snapshot->generation) {
    upstream_tls_ = std::make_shared<const tls::UpstreamTls>(snapshot->config);
    upstream_tls_generation_ = snapshot->generation;
  }
  return upstream_tls_;
}

stream::StreamConfiguration Worker::stream_configuration(bool tls) {
  auto snapshot = host_.snapshot();
  if (!stream_routing_ || stream_routing_->snapshot->generation != snapshot->generation)
    stream_routing_ = std::make_shared<const StreamRouting>(
        StreamRouting{snapshot, stream::StreamRouter(snapshot->config)});
  stream::StreamConfiguration c;
  c.keep_alive = stream_routing_;
  c.router = &stream_routing_->router;
  c.plugins = snapshot->plugins.get();
  if (tls) c.server_tls = server_tls();
  c.upstream_tls = upstream_tls();
  c.prepare_context = [this, snapshot](RequestContext& ctx) {
    ctx.snapshot = snapshot;
    ctx.request_id = new_request_id();
  };
  return c;
}

std::shared_ptr<const tls::ServerTls> Worker::server_tls() {
  auto snapshot = host_.snapshot();
  if (!server_tls_ || server_tls_generation_ != snapshot->generation) {
    server_tls_ = host_.tls_contexts().get(snapshot->generation, snapshot->properties, snapshot->config);
    server_tls_generation_ = snapshot->generation;
  }
  return server_tls_;
}

void Worker::stop_accepting() {
  asio::post(io_, [this] {
    for (auto& listener : listeners_) {
      boost::system::error_code ec;
      listener.acceptor->close(ec);
    }
  });
}

void Worker::close_connections() {
  asio::post(io_, [this] {
    boost::system::error_code ec;
    for (auto* client : clients_) client->shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  });
}

void Worker::stop() {
  io_.stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
  io_.shutdown();
}

std::string Worker::new_request_id() {
  // 32 hex digits, as Kong's request ids; formatted by hand (fmt showed up in the profile).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = random_();
    for (int i = 15; i >= 0; --i, bits >>= 4) id[half * 16 + i] = kHex[bits & 0xf];
  }
  return id;
}

}  // namespace gh::proxy
