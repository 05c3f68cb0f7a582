// Runs one phase of one request through its plugins, in Kong's order, each through the host
// where its code runs (plugins/host.h: a plugin server or native C++). One PhaseRunner per
// worker. The runner alone reads the verdicts and decides what happens next:
//   proceed  the next plugin runs
//   exited   the plugin produced the response (kong.response.exit): the phase ends (the log phase
//            runs every plugin regardless)
//   failed   the failure policy of the plugin's server (pluginserver_<name>_on_error; native
//            plugins fail closed):
//              fail_closed  the request ends with 500 {"message":"An unexpected error occurred"},
//                           or 504 {"message":"The plugin server is timing out"} on a timeout
//              fail_open    the plugin is skipped, the request goes on
//            In the log phase a failure is logged and the next plugin runs.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/log_throttle.h"
#include "core/phase.h"
#include "core/request_context.h"
#include "plugins/external_host.h"
#include "plugins/host.h"
#include "plugins/plugin_set.h"
#include "plugins/runtime.h"

namespace gh::plugins {

// How a phase ended for the request.
enum class [[nodiscard]] PhaseEnd : uint8_t{
    completed,  // every plugin ran (or was skipped by fail_open): the request goes on
    responded,  // ctx.response holds the gateway's answer (a plugin's exit, or fail_closed)
};

// The plugins of one phase in order, then null: a list, or a Collector resolving each only when
// reached (Kong's precedence). A plugin given back with `hold` comes out of next() again.
class PhasePlugins {
 public:
  PhasePlugins(const std::vector<const ConfiguredPlugin*>& list) : list_(&list) {}  // NOLINT: implicit
  PhasePlugins(Collector& collector) : collector_(&collector) {}                    // NOLINT: implicit

  const ConfiguredPlugin* next() {
    if (held_) return std::exchange(held_, nullptr);
    if (collector_) return collector_->next();
    return index_ < list_->size() ? (*list_)[index_++] : nullptr;
  }
  void hold(const ConfiguredPlugin* plugin) { held_ = plugin; }

 private:
  const std::vector<const ConfiguredPlugin*>* list_ = nullptr;
  Collector* collector_ = nullptr;
  size_t index_ = 0;
  const ConfiguredPlugin* held_ = nullptr;
};

class PhaseRunner {
 public:
  // `runtime`: the plugin servers' (null when none is configured: only native plugins run).
  // `metrics`: the gateway's registry, where external plugins' events are counted.
  PhaseRunner(boost::asio::any_io_executor ex, PluginRuntime* runtime, metrics::Registry& metrics)
      : external_(ex, runtime, metrics) {}

  // As much of `phase` as runs without waiting, as plain calls (native handlers' run_now, no
  // coroutine frame for the phase either): the phase's end, or nullopt at the first plugin that
  // needs its coroutine, which is held in `plugins`, not run yet: `run` goes on from it. The hot
  // path of the request loop:
  //   std::optional<PhaseEnd> end = runner.run_now(ctx, phase, plugins);
  //   if (!end) { const PhaseEnd waited = co_await runner.run(ctx, phase, plugins); end = waited; }
  std::optional<PhaseEnd> run_now(core::RequestContext& ctx, core::Phase phase, PhasePlugins& plugins);
  // Runs `phase` for each (remaining) plugin in order, stopping when the request got its response.
  boost::asio::awaitable<PhaseEnd> run(core::RequestContext& ctx, core::Phase phase, PhasePlugins plugins);

 private:
  // The loops run each plugin's host directly (a coroutine of its own per plugin was ~10% of
  // what five native plugins cost a request), then ask goes_on.
  PluginHost& host_of(const ConfiguredPlugin& plugin);

  // After one plugin ran: false when the request must stop here.
  bool goes_on(core::RequestContext& ctx, core::Phase phase, const ConfiguredPlugin& plugin,
               const Verdict& verdict);
  // Applies the failure policy; false when the request ends with the error response.
  bool apply_failure(core::RequestContext& ctx, core::Phase phase, const ConfiguredPlugin& plugin,
                     const Verdict& verdict);
  void log_failure(core::Phase phase, const ConfiguredPlugin& plugin, const Verdict& verdict, bool fail_open);

  ExternalHost external_;
  NativeHost native_;
  // One failure line per plugin and kind of failure per interval: a server that is down fails
  // every request, and one line each would flood the log.
  std::unordered_map<std::string, log::Throttle> failure_logs_;
};

}  // namespace gh::plugins
