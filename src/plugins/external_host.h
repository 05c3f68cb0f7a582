// External plugins: a plugin server runs the handler, reached over the bridge of its protocol
// (MsgPack:1, ProtoBuf:1, Gatehouse:1). One ExternalHost per worker (bridges hold per-worker
// connection pools). Owns what is specific to servers: starting instances, retrying an event
// once when the server lost the instance, cutting an event at its deadline, and reporting a hung
// or garbled server to the supervisor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>
#include <unordered_map>

#include "metrics/metrics.h"
#include "pdk/table.h"
#include "plugins/bridge.h"
#include "plugins/host.h"
#include "plugins/runtime.h"

namespace gh::plugins {

class ExternalHost final : public PluginHost {
 public:
  // `runtime` null: no plugin server is configured (no external plugin can be bound then).
  // `metrics`: where the events and PDK calls are counted (the gateway's; it outlives the host).
  ExternalHost(boost::asio::any_io_executor ex, PluginRuntime* runtime, metrics::Registry& metrics);

  boost::asio::awaitable<Verdict> run(core::RequestContext& ctx, core::Phase phase,
                                      const ConfiguredPlugin& plugin) override;

 private:
  // run() without the metrics: fills `stats` when the event reached the server.
  boost::asio::awaitable<Verdict> run_event(core::RequestContext& ctx, core::Phase phase,
                                            const ConfiguredPlugin& plugin, EventStats& stats);
  std::shared_ptr<Bridge> bridge_for(const ConfiguredPlugin& plugin);
  boost::asio::awaitable<Started> instance_for(Bridge& bridge, const ConfiguredPlugin& plugin);

  // gatehouse_plugin_*: what each external plugin's events cost, per phase (docs/plugins-bundled.md).
  struct EventFamilies {
    metrics::Counter& events;
    metrics::Counter& failures;
    metrics::Histogram& duration;
    metrics::Counter& pdk_calls;
    metrics::Counter& round_trips;
  };
  static EventFamilies event_families(metrics::Registry& registry);

  boost::asio::any_io_executor executor_;
  PluginRuntime* runtime_;
  EventFamilies families_;
  pdk::PdkTallies tallies_;                              // this worker's: its events run on its thread
  std::unordered_map<std::string, BridgeSlot> bridges_;  // by server name
  InstanceCache::Local known_;                           // this worker's copy of the instance ids
};

}  // namespace gh::plugins
