// The process-wide side of external plugins: discovery and config validation while loading a
// snapshot, the supervised plugin-server processes, the shared instance cache, and closing the
// instances of superseded configs after a reload (plugin.CloseInstance, as Kong).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <vector>

#include "conf/entities.h"
#include "conf/properties.h"
#include "plugins/bridge.h"
#include "plugins/instance_cache.h"
#include "plugins/plugin_set.h"
#include "pluginserver/supervisor.h"

namespace gh::plugins {

// Discovers the servers' plugins (runs every query command), checks `plugins = ...`, validates
// and default-fills every plugin entity of `config` against its server's schema, and binds them,
// numbering their configs with `seqs` (the one numbering of every snapshot of a gateway: go-pdk
// uses the numbers as instance ids, and the instance cache keys instances by them). Declares the
// dictionaries `properties` names in the gateway's shared `memory`, which the native plugins are
// made with. Throws conf::ConfigError with every problem found.
std::shared_ptr<const PluginSet> load_plugins(const conf::Properties& properties, conf::Declarative& config,
                                              SeqAllocator& seqs, SharedMemory& memory);

class PluginRuntime {
 public:
  // `control` runs the closing of superseded instances. The servers are supervised on a thread of
  // the runtime's own (it spawns them: their parent-death signal is tied to it), never blocked by
  // what else runs on `control`: a reload builds its snapshot there, query commands included,
  // and meanwhile the servers' output must still be read (a server whose log pipe is full stops
  // answering), their exits seen, their readiness probed.
  explicit PluginRuntime(boost::asio::io_context& control);
  ~PluginRuntime();

  // Spawns the servers that have a start command and waits until every socket accepts.
  // Throws std::runtime_error naming the servers that did not become ready.
  void start(std::vector<pluginserver::ServerConfig> servers);
  void apply(std::vector<pluginserver::ServerConfig> servers);  // reload: restarts changed servers only
  void stop();

  // The plugins of a snapshot that now serves (the first one, then every reload). Instances of
  // configs that no live snapshot uses any more are closed on their servers once the last request
  // holding an older snapshot has ended (checked on the control loop until then).
  void track(std::shared_ptr<const PluginSet> plugins);

  bool ready(std::string_view server) const;
  // Holds the calling coroutine until `server` is ready (Supervisor::await_ready).
  boost::asio::awaitable<bool> await_ready(std::string_view server,
                                           std::chrono::steady_clock::time_point deadline);
  void connect_refused(std::string_view server);  // Supervisor::connect_refused
  void report_fault(std::string_view server, pluginserver::Supervisor::Fault fault, std::string_view detail);
  nlohmann::json status() const;
  InstanceCache& instances() { return instances_; }
  // What the bridges keep per server: prefetch plans, restart counts (voided when it restarts).
  const ServerRecords& server_records() const { return server_records_; }
  const pluginserver::Supervisor* supervisor() const { return supervisor_.get(); }

 private:
  struct Retirement;  // the snapshots still alive, and the bridges that close instances

  // Runs the supervisor (declared before it: destroyed after it).
  class SupervisionThread {
   public:
    SupervisionThread();
    ~SupervisionThread();
    boost::asio::io_context& io() { return io_; }

   private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;
  };

  boost::asio::io_context& control_;
  SupervisionThread supervision_;
  std::unique_ptr<pluginserver::Supervisor> supervisor_;
  InstanceCache instances_;
  // Shared with the retirement's bridges, which may outlive the runtime by a moment at shutdown.
  ServerRecords server_records_;
  std::shared_ptr<Retirement> retirement_;  // shared with the close coroutines on the control loop
};

}  // namespace gh::plugins
