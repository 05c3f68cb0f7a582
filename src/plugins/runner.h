// Runs one phase of one request through its plugins, in order, over the right bridge. One
// PhaseRunner per worker (bridges hold per-worker connection pools).
//
// Failure policy (gatehouse extension, per server: pluginserver_<name>_on_error):
//   fail_closed (default)  the request ends with 500 {"message":"An unexpected error occurred"},
//                          or 504 {"message":"The plugin server is timing out"} on a timeout
//   fail_open              the plugin is skipped, the request goes on
// A lost instance (server restarted, instance purged) is restarted and the event retried once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/log_throttle.h"
#include "plugins/bridge.h"
#include "plugins/phase.h"
#include "plugins/plugin_set.h"
#include "plugins/runtime.h"
#include "proxy/request_context.h"

namespace gh::plugins {

class PhaseRunner {
 public:
  PhaseRunner(boost::asio::any_io_executor ex, PluginRuntime& runtime) : executor_(ex), runtime_(runtime) {}

  // Runs `phase` for each plugin in order. Stops early when a plugin produced the response
  // (kong.response.exit) or a failure ended the request (ctx.response.produced_by_gateway).
  boost::asio::awaitable<void> run(proxy::RequestContext& ctx, Phase phase,
                                   const std::vector<const ConfiguredPlugin*>& plugins);
  // The same, each plugin resolved only when reached (Kong's precedence: see Collector).
  boost::asio::awaitable<void> run(proxy::RequestContext& ctx, Phase phase, Collector& plugins);

 private:
  boost::asio::awaitable<void> run_plugins(proxy::RequestContext& ctx, Phase phase,
                                           const std::vector<const ConfiguredPlugin*>& plugins);
  std::shared_ptr<Bridge> bridge_for(const ConfiguredPlugin& plugin);
  boost::asio::awaitable<int64_t> instance_for(Bridge& bridge, const ConfiguredPlugin& plugin);
  // Runs one plugin's handler; returns false when the request must stop here.
  boost::asio::awaitable<bool> run_plugin(proxy::RequestContext& ctx, Phase phase,
                                          const ConfiguredPlugin& plugin);
  void fail(proxy::RequestContext& ctx, Phase phase, const ConfiguredPlugin& plugin, Failure failure,
            const std::string& why);
  void log_failure(Phase phase, const ConfiguredPlugin& plugin, Failure failure, const std::string& why,
                   bool fail_open);

  boost::asio::any_io_executor executor_;
  PluginRuntime& runtime_;
  std::unordered_map<std::string, BridgeSlot> bridges_;  // by server name
  // One failure line per plugin and kind of failure per interval: a server that is down fails
  // every request, and one line each would flood the log.
  std::unordered_map<std::string, log::Throttle> failure_logs_;
};

}  // namespace gh::plugins
