// A worker: one thread, one io_context, its own listening sockets (SO_REUSEPORT) and its own
// upstream connection pool, resolver cache and balancer state. Nothing here is shared with
// other workers except the configuration snapshot, which is read through the Gateway.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <unordered_set>
#include <vector>

#include "net/byte_stream.h"
#include "net/resolver.h"
#include "net/upstream_pool.h"
#include "proxy/snapshot.h"
#include "proxy/stream_dialer.h"
#include "stream/stream_session.h"
#include "tls/handshake.h"
#include "tls/server_tls.h"
#include "tls/upstream_tls.h"
#include "upstream/balancer.h"

namespace gh::proxy {

class AccessLog;
}  // namespace gh::proxy
namespace gh::plugins {
class PluginRuntime;
class PhaseRunner;
struct SharedMemory;
}  // namespace gh::plugins
namespace gh::proxy {

// What workers need from the process: the current snapshot and the shutdown state.
class WorkerHost {
 public:
  virtual ~WorkerHost() = default;
  virtual std::shared_ptr<const Snapshot> snapshot() const = 0;
  // Bumped after every snapshot swap, so that a connection re-reads snapshot() (an atomic
  // shared_ptr load: a lock in libstdc++) only when it changed, not once per request.
  uint64_t snapshot_version() const { return snapshot_version_.load(std::memory_order_acquire); }
  virtual bool draining() const = 0;
  virtual AccessLog& access_log() = 0;
  // The stream connections' log (null: no stream listener, or proxy_stream_access_log = off).
  virtual std::shared_ptr<stream::StreamAccessLog> stream_access_log() = 0;
  virtual plugins::PluginRuntime* plugin_runtime() = 0;  // null: no plugin servers
  // What the plugins share across workers and reloads (the metrics registry the workers count in).
  virtual plugins::SharedMemory& shared_memory() = 0;
  // Upstream target health, shared by every worker (docs/upstream.md).
  virtual const upstream::HealthRegistry& upstreams() const = 0;
  // The TLS server contexts, one per configuration generation, shared by every worker.
  tls::ServerTlsCache& tls_contexts() { return tls_contexts_; }

 protected:
  void snapshot_swapped() { snapshot_version_.fetch_add(1, std::memory_order_release); }

 private:
  std::atomic<uint64_t> snapshot_version_{0};
  tls::ServerTlsCache tls_contexts_;
};

// The worker's io_context, with shutdown() reachable: Worker::join() destroys the coroutines left
// on it (idle connections, log-phase work cut by the drain timeout) while the pool, the runner and
// the connection set they use still exist, instead of in ~io_context, after those members.
class WorkerIoContext : public boost::asio::io_context {
 public:
  using io_context::io_context;
  using io_context::shutdown;
};

class Worker final : public stream::CertificatePhaseSource {
 public:
  Worker(int index, WorkerHost& host);
  ~Worker();

  // Binds this worker's proxy listeners; throws on failure (before any thread starts). For
  // `ssl` listeners the TLS context is built here, so a certificate problem stops the start.
  void listen(const std::vector<conf::ListenAddress>& addresses);
  // The same for stream_listen (TCP/TLS stream proxying, docs/stream.md).
  void listen_stream(const std::vector<conf::ListenAddress>& addresses);
  void start();  // runs the event loop on a new thread
  void stop_accepting();
  // Shuts every HTTP client connection down (after draining, idle keep-alive ones remain): their
  // coroutines see the end of the stream and end normally. open_http_connections() then drops to 0.
  void close_connections();
  void track(boost::asio::ip::tcp::socket* client) {
    clients_.insert(client);
    open_http_connections_.fetch_add(1, std::memory_order_relaxed);
  }
  void untrack(boost::asio::ip::tcp::socket* client) {
    clients_.erase(client);
    open_http_connections_.fetch_sub(1, std::memory_order_relaxed);
  }
  int open_http_connections() const { return open_http_connections_.load(std::memory_order_relaxed); }
  void stop();  // stops the event loop (after draining)
  // Waits for the event loop's thread, then destroys the coroutines still suspended on it while
  // every member they use is alive.
  void join();

  int index() const { return index_; }
  boost::asio::io_context& io() { return io_; }
  WorkerHost& host() { return host_; }
  net::UpstreamPool& pool() { return pool_; }
  net::Resolver& resolver() { return resolver_; }
  upstream::Balancer& balancer() { return balancer_; }
  std::string new_request_id();
  // The upstream TLS contexts of the current configuration generation (https/tls services).
  std::shared_ptr<const tls::UpstreamTls> upstream_tls();
  plugins::PhaseRunner* runner() { return runner_.get(); }

  std::atomic<int> active_connections{0};
  std::atomic<int> active_requests{0};
  // Totals since start (nginx's accepts and requests, for /status and /metrics). Written only by
  // this worker's thread: count() is a relaxed load and store, not a locked add.
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> requests_total{0};
  static void count(std::atomic<uint64_t>& total) {
    total.store(total.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Log phases still running after their response went out: draining waits for them too.
  std::atomic<int> active_log_phases{0};

 private:
  struct Listener {
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    bool tls = false;
    bool stream = false;  // stream_listen: TCP/TLS proxying, not HTTP
    bool http2 = false;   // `http2`: ALPN h2 with ssl, prior-knowledge h2c without
  };
  void open(const conf::ListenAddress& address, bool stream);
  stream::StreamConfiguration stream_configuration(bool tls);
  boost::asio::awaitable<void> accept_loop(Listener& listener, uint16_t port);
  boost::asio::awaitable<void> serve_tls(boost::asio::ip::tcp::socket socket, uint16_t port, bool http2);
  boost::asio::awaitable<void> serve_h2c_or_http1(boost::asio::ip::tcp::socket socket, uint16_t port);
  // The TLS context of the current configuration generation (kept per worker so the shared
  // cache's lock is taken once per reload, not per handshake).
  std::shared_ptr<const tls::ServerTls> server_tls();
  // The `certificate` phase of the global plugins for one handshake, run on `ctx` (a context
  // with a connection and no request); null when no plugin has that phase. For HTTPS listeners
  // and, through StreamEnvironment::certificates, stream listeners that terminate TLS.
  tls::CertificatePhase certificate_phase(RequestContext& ctx) override;

  int index_;
  WorkerHost& host_;
  // One thread runs it, and no other thread starts operations on its sockets (other threads only
  // post()): the per-socket reactor mutexes can go (~800 instructions per proxied request).
  WorkerIoContext io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::vector<Listener> listeners_;
  std::shared_ptr<const tls::ServerTls> server_tls_;
  uint64_t server_tls_generation_ = 0;
  std::shared_ptr<const tls::UpstreamTls> upstream_tls_;
  uint64_t upstream_tls_generation_ = 0;
  // The stream router of the current generation, with the snapshot it points into.
  struct StreamRouting {
    std::shared_ptr<const Snapshot> snapshot;
    stream::StreamRouter router;
  };
  std::shared_ptr<const StreamRouting> stream_routing_;
  std::unique_ptr<stream::StreamEnvironment> stream_environment_;
  net::UpstreamPool pool_;
  net::Resolver resolver_;
  upstream::Balancer balancer_;
  StreamDialer stream_dialer_{balancer_, host_};
  std::mt19937_64 random_;
  std::thread thread_;
  std::unique_ptr<plugins::PhaseRunner> runner_;
  std::unordered_set<boost::asio::ip::tcp::socket*> clients_;  // touched only on this worker's thread
  std::atomic<int> open_http_connections_{0};                  // clients_.size(), readable anywhere
  bool pool_configured_ = false;
  friend class Http1Connection;
};

}  // namespace gh::proxy
