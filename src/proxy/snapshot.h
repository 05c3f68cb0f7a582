// Building a configuration snapshot (core/snapshot.h): the proxy layer owns it because it needs
// every layer below (declarative loader, plugin discovery, router).
#pragma once

#include <memory>

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

}  // namespace gh::proxy
