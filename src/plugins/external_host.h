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

#include "plugins/bridge.h"
#include "plugins/host.h"
#include "plugins/runtime.h"

namespace gh::plugins {

class ExternalHost final : public PluginHost {
 public:
  // `runtime` null: no plugin server is configured (no external plugin can be bound then).
  ExternalHost(boost::asio::any_io_executor ex, PluginRuntime* runtime) : executor_(ex), runtime_(runtime) {}

  boost::asio::awaitable<Verdict> run(core::RequestContext& ctx, core::Phase phase,
                                      const ConfiguredPlugin& plugin) override;

 private:
  // run() without the metrics: fills `stats` when the event reached the server.
  boost::asio::awaitable<Verdict> run_event(core::RequestContext& ctx, core::Phase phase,
                                            const ConfiguredPlugin& plugin, EventStats& stats);
  std::shared_ptr<Bridge> bridge_for(const ConfiguredPlugin& plugin);
  boost::asio::awaitable<Started> instance_for(Bridge& bridge, const ConfiguredPlugin& plugin);

  boost::asio::any_io_executor executor_;
  PluginRuntime* runtime_;
  std::unordered_map<std::string, BridgeSlot> bridges_;  // by server name
  InstanceCache::Local known_;                           // this worker's copy of the instance ids
};

}  // namespace gh::plugins
