// What `gatehouse plugins` shows: each plugin server with its plugins, either straight from the
// configuration (query commands only, nothing started) or from a running gateway's supervisor
// (admin endpoint GET /plugin-servers).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "pluginserver/registry.h"
#include "pluginserver/supervisor.h"

namespace gh::pluginserver {

// `gatehouse plugins -c FILE`: builds the servers from `props`, runs every query command and
// prints a table (server, protocol, plugin, version, priority, phases, enabled) or, with `json`,
// the document of plugin_servers_json. `native`: the native plugins compiled in, listed first
// ([{name, version, priority, phases, enabled}], made by the caller: this layer does not know
// them), as the document's "native". Errors go to std::cerr; returns the exit code (0 or 1).
int print_plugins(const std::map<std::string, std::string>& props, const std::string& prefix,
                  std::ostream& out, bool json, const nlohmann::json& native = nlohmann::json::array());

// {"servers": [{name, socket, managed, start_cmd, query_cmd, state, pid, restarts, last_exit, ready,
//   plugins: [{name, version, priority, phases, protocol}]}]}. Without a supervisor the process
// fields are null and state is "not started".
nlohmann::json plugin_servers_json(const Registry& registry, const Supervisor* supervisor);

// The text form of plugin_servers_json's document (also for a document fetched from the admin API),
// with the document's "native" plugins first when it has them.
std::string plugin_servers_text(const nlohmann::json& document);

}  // namespace gh::pluginserver
