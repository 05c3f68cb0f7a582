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

// Loads `properties.declarative_config`, discovers and validates the external plugins (runs the
// plugin servers' query commands) and builds the router. Throws conf::ConfigError.
std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties, uint64_t generation);
// The same from a given declarative text (`source.name` "" = no entities): POST /config.
std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties,
                                               const conf::DeclarativeSource& source, uint64_t generation);
// Kong's configuration hash of a declarative text: MD5 in hex, 32 zeros for no configuration.
std::string config_hash(const conf::DeclarativeSource& source);

}  // namespace gh::proxy
