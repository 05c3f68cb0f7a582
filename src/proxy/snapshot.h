// Building a configuration snapshot (core/snapshot.h): the proxy layer owns it because it needs
// every layer below (declarative loader, plugin discovery, router).
#pragma once

#include <memory>

#include "conf/declarative.h"
#include "core/request_context.h"
#include "core/snapshot.h"
#include "plugins/plugin_set.h"

namespace gh::proxy {

using core::Clock;
using core::RequestContext;
using core::Snapshot;

// What a new snapshot continues from the snapshots before it: its generation, the numbering of
// plugin configs (a config keeps its __seq__, so its plugin-server instance, across reloads) and
// the plugins' shared memory (proxy-cache's entries, rate-limiting's counters survive reloads).
// Both are owned by whoever owns the whole line of snapshots: the Gateway; a one-off build
// (`gatehouse config check`) brings its own.
struct SnapshotLineage {
  uint64_t generation;
  plugins::SeqAllocator& seqs;
  plugins::SharedMemory& memory;
};

// Loads `properties.declarative_config`, discovers and validates the external plugins (runs the
// plugin servers' query commands) and builds the router. Throws conf::ConfigError.
std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties, const SnapshotLineage& lineage);
// The same from a given declarative text (`source.name` "" = no entities): POST /config.
std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties,
                                               const conf::DeclarativeSource& source,
                                               const SnapshotLineage& lineage);

// This process's node id when kong.conf sets none: a random UUID made once and never changed.
// Immutable, so not state anyone owns: Kong's node id is per node (one UUID in the node's shared
// memory, the same for every worker and across reloads), and a gatehouse process is one node.
const std::string& process_node_id();
// Kong's configuration hash of a declarative text: MD5 in hex, 32 zeros for no configuration.
std::string config_hash(const conf::DeclarativeSource& source);

}  // namespace gh::proxy
