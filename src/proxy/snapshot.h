// One immutable, self-consistent view of the configuration: properties, declarative entities,
// the router built from them, and (later) the plugin chain. Workers take a shared_ptr per
// request, so a reload swaps snapshots without disturbing requests in flight.
#pragma once

#include <chrono>
#include <memory>

#include "conf/declarative.h"
#include "conf/entities.h"
#include "conf/properties.h"
#include "plugins/plugin_set.h"
#include "router/router.h"

namespace gh::proxy {

struct Snapshot {
  conf::Properties properties;
  conf::Declarative config;
  std::unique_ptr<router::Router> router;             // points into `config`
  std::shared_ptr<const plugins::PluginSet> plugins;  // points into `config`
  uint64_t generation = 0;                            // increases with every successful (re)load
  // MD5 (hex) of the declarative text in force, Kong's configuration_hash; 32 zeros when none.
  std::string config_hash;

  // Derived once so the hot path doesn't re-parse properties.
  bool server_tokens = true;
  bool latency_tokens = true;
  bool response_latency =
      true;  // X-Kong-Response-Latency on responses the gateway makes (latency_tokens too)
  bool request_id_header = true;
};

// Loads `properties.declarative_config`, discovers and validates the external plugins (runs the
// plugin servers' query commands) and builds the router. Throws conf::ConfigError.
std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties, uint64_t generation);
// The same from a given declarative text (`source.name` "" = no entities): POST /config.
std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties,
                                               const conf::DeclarativeSource& source, uint64_t generation);
// Kong's configuration hash of a declarative text: MD5 in hex, 32 zeros for no configuration.
std::string config_hash(const conf::DeclarativeSource& source);

}  // namespace gh::proxy
