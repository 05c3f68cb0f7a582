// One immutable, self-consistent view of the configuration: properties, declarative entities,
// the router built from them, and the plugins ready to run. Workers take a shared_ptr per
// request, so a reload swaps snapshots without disturbing requests in flight. Built by
// proxy::build_snapshot (proxy/snapshot.h).
#pragma once

#include <chrono>
#include <memory>

#include "conf/entities.h"
#include "conf/properties.h"
#include "core/entity_tables.h"
#include "router/router.h"

namespace gh::plugins {
class PluginSet;  // plugins/plugin_set.h: a layer above this one
}

namespace gh::core {

struct Snapshot {
  conf::Properties properties;
  conf::Declarative config;
  std::unique_ptr<router::Router> router;             // points into `config`
  std::shared_ptr<const plugins::PluginSet> plugins;  // points into `config`
  uint64_t generation = 0;                            // increases with every successful (re)load
  // MD5 (hex) of the declarative text in force, Kong's configuration_hash; 32 zeros when none.
  std::string config_hash;
  // kong.node.get_id, /metrics and GET /: kong.conf's node_id, else the process's own identity
  // (proxy::process_node_id).
  std::string node_id;
  // The consumers' and credentials' entity tables an authentication hands to the request.
  EntityTables entity_tables;

  // Derived once so the hot path doesn't re-parse properties.
  bool server_tokens = true;
  bool latency_tokens = true;
  bool response_latency =
      true;  // X-Kong-Response-Latency on responses the gateway makes (latency_tokens too)
  bool request_id_header = true;
};

}  // namespace gh::core
