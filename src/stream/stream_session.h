// One stream (TCP/TLS) connection: routes it (source, destination, SNI), runs the `preread`
// phase, connects to the service (TCP or TLS) and copies bytes both ways until both sides are
// done, then runs the `log` phase off the connection's path. Kong's stream subsystem, for
// external plugins (docs/stream.md).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>

#include "net/resolver.h"
#include "plugins/plugin_set.h"
#include "stream/stream_access_log.h"
#include "stream/stream_router.h"
#include "tls/handshake.h"
#include "tls/server_tls.h"
#include "tls/upstream_tls.h"
#include "upstream/connector.h"

namespace gh::plugins {
class PhaseRunner;
}
namespace gh::core {
struct RequestContext;
}

namespace gh::stream {

// One configuration generation, as the stream proxy needs it.
struct StreamConfiguration {
  std::shared_ptr<const void> keep_alive;  // owns everything the pointers below point into
  const StreamRouter* router = nullptr;
  const plugins::PluginSet* plugins = nullptr;                 // null: no plugins
  std::shared_ptr<const tls::ServerTls> server_tls;            // set for `ssl` listeners
  std::shared_ptr<const tls::UpstreamTls> upstream_tls;        // contexts of tls services
  std::function<void(core::RequestContext&)> prepare_context;  // snapshot, request id, ...
};

// One connection's way to its service: the balancer's targets when the service's host names an
// upstream, within the service's retries, each failure heard by the passive health checks.
// The HTTP proxy implements them (proxy::StreamDialer over its UpstreamTries), a layer above.
class ServiceTries {
 public:
  virtual ~ServiceTries() = default;
  // A new connection to the next target that answers; false when no try connected
  // (ctx.response.status then says why: 502, or 503 when there was no target or no address).
  virtual boost::asio::awaitable<bool> connect(upstream::Connector& connector,
                                               std::unique_ptr<net::UpstreamConnection>& conn) = 0;
  // The connection that stood has ended: Kong's log phase reports the status to the balancer.
  virtual void ended(int status) = 0;
};

class UpstreamDialer {
 public:
  virtual ~UpstreamDialer() = default;
  // The tries of `ctx` (ctx.upstream: host, port and scheme, as the service and preread set
  // them); they hold their balancer pick, so they live as long as the connection.
  virtual std::unique_ptr<ServiceTries> tries(core::RequestContext& ctx) = 0;
};

// Who runs the `certificate` phase of a TLS handshake the gateway terminates: the worker, which
// knows the snapshot's global plugins and has the phase runner.
class CertificatePhaseSource {
 public:
  // The phase for one handshake, run on `ctx` (a connection, no request); empty when no plugin
  // has that phase.
  virtual tls::CertificatePhase certificate_phase(core::RequestContext& ctx) = 0;

 protected:
  ~CertificatePhaseSource() = default;
};

// What a connection borrows from its worker.
struct StreamEnvironment {
  net::Resolver& resolver;
  plugins::PhaseRunner* runner = nullptr;  // null: no plugin servers
  // The certificate phase for connections this listener terminates (null: none).
  CertificatePhaseSource* certificates = nullptr;
  std::shared_ptr<StreamAccessLog> access_log;  // null: proxy_stream_access_log = off
  // Log phases still running (the worker's count, which draining waits for); may be null.
  std::atomic<int>* active_log_phases = nullptr;
  UpstreamDialer* dialer = nullptr;  // the worker's
};

// Serves one accepted connection to the end. `ssl`: the stream_listen entry has the ssl flag
// (TLS is terminated, or passed through when a tls_passthrough route matches the SNI).
boost::asio::awaitable<void> serve_stream(boost::asio::ip::tcp::socket socket, bool ssl,
                                          StreamEnvironment& environment, StreamConfiguration configuration);

}  // namespace gh::stream
