// The plugins of one configuration snapshot, ready to run: every enabled plugin entity bound to
// the plugin server that provides it (or to a native plugin), its phases and priority, and the
// exact config JSON its instance is started with. Kong's plugin precedence and ordering live
// here (collect()).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/entities.h"
#include "core/entity_tables.h"
#include "core/phase.h"
#include "plugins/native.h"
#include "pluginserver/registry.h"

namespace gh::plugins {

using core::Phase;
using core::PhaseMask;

// One enabled plugin entity, bound to where its code runs: a plugin server (`info`, `server`)
// or the gateway itself (`native`, `handler`).
struct ConfiguredPlugin {
  const conf::Plugin* entity = nullptr;                // in the snapshot's Declarative
  const pluginserver::PluginInfo* info = nullptr;      // external: the server's description of the plugin
  const pluginserver::ServerConfig* server = nullptr;  // external: where its instances live
  const NativePluginSpec* native = nullptr;            // native: its registration
  std::shared_ptr<NativeHandler> handler;              // native: made from this entity's config
  std::string name;
  int priority = 0;
  PhaseMask phases = 0;     // core::bit()s
  int64_t seq = 0;          // Kong's __seq__: unique per config version, process-wide, never 0
  std::string config_json;  // what StartInstance sends (config + __seq__, __plugin_id, __key__, scope ids)

  bool has(Phase p) const { return (phases & core::bit(p)) != 0; }
  bool is_native() const { return native != nullptr; }
};

// Hands out __seq__ numbers: the same plugin entity with the same config keeps its number across
// reloads (so its running instance is reused); any change gets a new one. One per gateway (it
// owns it: proxy::Gateway), shared by every snapshot it builds.
class SeqAllocator {
 public:
  int64_t seq_for(const std::string& plugin_id, const std::string& config_text);

 private:
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, int64_t> seqs_;
  int64_t next_ = 1;
};

class PluginSet {
 public:
  PluginSet() = default;
  // Binds every enabled plugin entity of `config` to where it runs: a native plugin of `native`
  // (it wins over a server's plugin of the same name, as Kong's bundled Lua plugins do), else
  // the server that provides it. Others are skipped here (discovery already refused disabled or
  // unknown ones). Native handlers are made here, from the validated configs and with the
  // gateway's shared `memory` (may throw).
  PluginSet(const conf::Declarative& config, std::shared_ptr<const pluginserver::Registry> registry,
            SeqAllocator& seqs, const std::vector<const NativePluginSpec*>& native, SharedMemory& memory);

  // Kong's collection all at once, for a consumer known beforehand (or none, as in the stream
  // subsystem): for each plugin name the most specific entity (see resolve()), in execution
  // order; only those implementing `phase`. A request's access phase uses a Collector instead.
  std::vector<const ConfiguredPlugin*> collect(Phase phase, std::string_view route_id,
                                               std::string_view service_id,
                                               std::string_view consumer_id = {}) const;
  // Global plugins implementing `phase` (rewrite, certificate: Kong runs only those).
  const std::vector<const ConfiguredPlugin*>& globals(Phase phase) const {
    return globals_[static_cast<unsigned>(phase)];
  }
  // What a route's requests resolve to before any consumer is known, worked out once per
  // configuration: per plugin name (execution order), Kong's most specific entity among
  // route+service > route > service > global, or null; and the phases of every entity that may
  // apply to the route whatever the consumer. A request's collection then costs a lookup per
  // name, not a scan of every entity of the name (configs with thousands of routes).
  struct RoutePlan {
    std::string service_id;
    std::vector<const ConfiguredPlugin*> without_consumer;
    PhaseMask may_run = 0;
  };
  // The plan of a route of the configuration (null for ids it does not have).
  const RoutePlan* plan(std::string_view route_id, std::string_view service_id) const;
  // Whether some entity implementing `phase` may apply to this route and service, whatever the
  // consumer turns out to be (a cheap test before a Collector runs).
  bool may_run(Phase phase, std::string_view route_id, std::string_view service_id) const;

  // Kong's precedence: the most specific entity of the `index`th plugin name (execution order)
  // for these ids (consumer+route+service > consumer+route > consumer+service > route+service >
  // consumer > route > service > global), or null; any id may be empty.
  const ConfiguredPlugin* resolve(size_t index, std::string_view route_id, std::string_view service_id,
                                  std::string_view consumer_id) const;
  // Whether the `index`th name has an entity scoped to a consumer (else a plan resolves it).
  bool consumer_scoped(size_t index) const { return consumer_scoped_[index]; }
  size_t name_count() const { return by_name_.size(); }

  bool empty() const { return plugins_.empty(); }
  const std::vector<std::unique_ptr<ConfiguredPlugin>>& all() const { return plugins_; }
  const pluginserver::Registry* registry() const { return registry_.get(); }

 private:
  std::shared_ptr<const pluginserver::Registry> registry_;
  std::vector<std::unique_ptr<ConfiguredPlugin>> plugins_;
  void build_plans(const conf::Declarative& config);
  PhaseMask may_run_mask(std::string_view route_id, std::string_view service_id) const;

  // The entities of each distinct plugin name, names in execution order.
  std::vector<std::vector<const ConfiguredPlugin*>> by_name_;
  std::vector<bool> consumer_scoped_;                                            // per name
  std::array<std::vector<const ConfiguredPlugin*>, core::kPhaseCount> globals_;  // per phase, in order
  // Per route id (transparent lookups by string_view).
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  std::unordered_map<std::string, RoutePlan, IdHash, std::equal_to<>> plans_;
};

// Kong's collecting iterator (runloop/plugins_iterator.lua): walks the plugin names in execution
// order and resolves each one's configuration only when it is reached, with the consumer known
// at that moment, so a consumer-scoped configuration applies after an earlier plugin
// authenticated that consumer (kong.client.authenticate). What it resolved serves the later
// phases (response, log) of the same request: one collection per request.
class Collector {
 public:
  // `consumer` is read at each step (the request's authenticated consumer, may change meanwhile).
  // The ids are the caller's, kept alive while the collector is.
  Collector(const PluginSet& set, Phase phase, std::string_view route_id, std::string_view service_id,
            const core::EntityTable& consumer)
      : set_(set),
        plan_(set.plan(route_id, service_id)),
        phase_(phase),
        route_id_(route_id),
        service_id_(service_id),
        consumer_(consumer) {}

  // The next plugin implementing the phase, resolved now; null when none is left.
  const ConfiguredPlugin* next();
  // Resolves the names not reached yet, for the later phases (after the phase ended early).
  void resolve_rest() {
    while (next() != nullptr) {
    }
  }
  // The plugins resolved so far (those the iterator reached) that implement `later`, in order.
  std::vector<const ConfiguredPlugin*> resolved(Phase later) const;

 private:
  std::string_view consumer_id() const;  // empty: none

  const PluginSet& set_;
  const PluginSet::RoutePlan* plan_;  // null: every name resolved by a scan
  Phase phase_;
  std::string_view route_id_, service_id_;
  const core::EntityTable& consumer_;
  size_t next_name_ = 0;
  std::vector<const ConfiguredPlugin*> resolved_;
};

// Kong's plugin ordering: priority descending, then name descending.
bool runs_before(const ConfiguredPlugin& a, const ConfiguredPlugin& b);

}  // namespace gh::plugins
