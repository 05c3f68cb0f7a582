// The gateway process: configuration snapshots, worker threads, signals, reload and draining.
// Owns everything `gatehouse start` runs; main() only parses the command line.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "conf/properties.h"
#include "plugins/runtime.h"
#include "proxy/access_log.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "upstream/registry.h"

namespace gh::proxy {

// How to produce a new configuration: re-reads kong.conf + kong.yml (+ plugin schemas), as the
// next of the gateway's snapshots (build_snapshot with the lineage given).
// Throws conf::ConfigError with a message naming file, line/entity and field.
using SnapshotLoader = std::function<std::shared_ptr<const Snapshot>(const SnapshotLineage& lineage)>;

// After every reload attempt the gateway replaces this file (in the prefix) with one JSON line:
// {"pid", "attempt" (1, 2, ... per process), "ok", "generation", "error"}. `gatehouse reload`
// waits for its attempt there and reports the outcome.
std::string reload_result_file(const std::string& prefix);

class Gateway final : public WorkerHost {
 public:
  // `control` runs on a thread of its own (owned by the caller) for signals, reloads and the
  // plugin-server supervisor; `plugins` may be null when no plugin server is configured.
  // `seqs` numbered the plugin configs of `initial` and `memory` holds its plugins' shared
  // memory; the gateway owns both from here on and builds every later snapshot with them.
  Gateway(SnapshotLoader loader, std::shared_ptr<const Snapshot> initial,
          std::unique_ptr<plugins::SeqAllocator> seqs, std::unique_ptr<plugins::SharedMemory> memory,
          boost::asio::io_context& control, plugins::PluginRuntime* plugins);
  ~Gateway() override;

  // Binds listeners, writes the pid file, starts the workers. Throws on failure.
  void start();
  // Handles signals until the gateway has stopped (blocks the calling thread). Returns the exit code.
  int run();

  // Re-reads the configuration; on failure (an exception, std::bad_alloc included) the old one
  // keeps serving. Returns success; the outcome is also written to reload_result_file().
  bool reload();
  // Installs the snapshot `build` makes, as a reload does but without re-reading the files (POST
  // /config). Returns why it was refused ("" once it serves); the serving snapshot stays then.
  std::string apply(const SnapshotLoader& build);
  // Stops accepting, lets in-flight requests finish (bounded), then stops the workers.
  void shutdown();

  std::shared_ptr<const Snapshot> snapshot() const override { return std::atomic_load(&snapshot_); }
  bool draining() const override { return draining_.load(); }
  AccessLog& access_log() override { return *access_log_; }
  std::shared_ptr<stream::StreamAccessLog> stream_access_log() override { return stream_access_log_; }
  plugins::PluginRuntime* plugin_runtime() override { return plugins_; }
  const upstream::HealthRegistry& upstreams() const override { return upstreams_; }
  // The plugins' shared memory (proxy-cache's stores for the admin API's /proxy-cache routes, the
  // log plugins' queues for /metrics, SIGUSR1 and the drain, the metrics registry for /metrics).
  plugins::SharedMemory& shared_memory() override { return *memory_; }
  boost::asio::io_context& control() { return control_; }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }

  // Hooks for the layers above (plugin servers, admin API) to join the process lifecycle.
  std::vector<std::function<void()>> on_stop;
  std::vector<std::function<void(const Snapshot&)>> on_reload;
  // SIGUSR1 (nginx's "reopen log files", after a log rotation).
  std::vector<std::function<void()>> on_reopen_logs;

 private:
  void write_pid_file();
  void remove_pid_file();
  void await_signals();
  std::string install(const SnapshotLoader& build, const char* what);  // under reload_mutex_
  void write_reload_result(bool ok, const std::string& error);

  SnapshotLoader loader_;
  std::unique_ptr<plugins::SeqAllocator> seqs_;  // the __seq__ numbering of all its snapshots
  // Survives reloads; before the snapshots: their native plugins point into it.
  std::unique_ptr<plugins::SharedMemory> memory_;
  upstream::HealthRegistry upstreams_;  // before the workers: destroyed after them
  std::shared_ptr<const Snapshot> snapshot_;
  std::unique_ptr<AccessLog> access_log_;
  std::shared_ptr<stream::StreamAccessLog> stream_access_log_;  // shared with the workers' stream proxies
  std::vector<std::unique_ptr<Worker>> workers_;
  boost::asio::io_context& control_;
  plugins::PluginRuntime* plugins_;
  // Set once shutdown_thread_ holds the draining thread: run() joins it after this, never before
  // (it was read while the control thread was still assigning it, and a std::thread destroyed
  // joinable ends the process with std::terminate).
  std::promise<void> shutdown_started_;
  std::atomic<bool> draining_{false};
  uint64_t generation_ = 1;
  uint64_t reload_attempts_ = 0;
  std::string pid_file_;
  std::string reload_file_;  // set with the pid file: reload_result_file(prefix)
  std::mutex reload_mutex_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::thread shutdown_thread_;
};

}  // namespace gh::proxy
