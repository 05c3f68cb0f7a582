// Plugin discovery: runs each server's query command, parses its dump defensively and records
// which plugin is served by which server, with which protocol (kong-gateway-side.md §3).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "conf/entities.h"
#include "pluginserver/config.h"

namespace gh::pluginserver {

struct PluginInfo {
  std::string name, version;
  std::string server;    // ServerConfig::name
  std::string protocol;  // "MsgPack:1" | "ProtoBuf:1" | other (kept; the bridges decide)
  int priority = 0;
  std::vector<std::string> phases;
  nlohmann::json schema;  // Kong plugin schema as reported: {"name", "fields": [{"config": {...}}]}
};

// What one query command reported.
struct Dump {
  std::string protocol = "MsgPack:1";  // the object shape's "Protocol"; arrays default to MsgPack:1
  std::vector<std::string> protocols;  // gatehouse extension "Protocols": every protocol offered
  std::vector<PluginInfo> plugins;     // server left empty
};

// Finds the plugin table in a query command's stdout: the array shape or the {Protocol,
// SocketPath, Plugins} shape, possibly surrounded by log lines with ANSI colour codes.
// Throws std::runtime_error if there is no plugin table or an entry is invalid (no Name,
// non-integer Priority).
Dump parse_dump(std::string_view output);

// One legacy go-pluginserver `-dump-plugin-info` reply (a MessagePack map, same keys).
PluginInfo parse_plugin_info(const nlohmann::json& info);

class Registry {
 public:
  // Registers a plugin; a name already registered (by another server) is refused: false.
  bool add(PluginInfo plugin);
  void add_server(ServerConfig server);

  const PluginInfo* find(std::string_view name) const;
  const std::vector<PluginInfo>& all() const { return plugins_; }  // discovery order
  const ServerConfig* server(std::string_view name) const;
  const std::vector<ServerConfig>& servers() const { return servers_; }
  std::vector<const PluginInfo*> plugins_of(std::string_view server) const;

 private:
  std::vector<PluginInfo> plugins_;
  std::vector<ServerConfig> servers_;
};

// Runs every query command (bounded by ServerConfig::query_timeout, PATH = kDefaultPath, no shell)
// and registers every plugin each server reports. Then checks `enabled` (the `plugins` property
// without "bundled"): a name neither in `native` nor reported by a server throws
// "<name> plugin is enabled but not installed". A query command that times out, exits non-zero
// or prints no plugin table throws with its exit status and the first lines of its output.
// Blocking (runs processes): call it before serving, or off the io threads on reload.
Registry discover(const std::vector<ServerConfig>& servers, const std::vector<std::string>& enabled,
                  const std::vector<std::string>& native = {});

// discover's two steps. query_servers runs the query commands (and asks legacy go-pluginservers
// for each of `names`) without judging what is missing; check_enabled throws for the first
// enabled name that is neither native nor registered.
Registry query_servers(const std::vector<ServerConfig>& servers, const std::vector<std::string>& names);
void check_enabled(const Registry& registry, const std::vector<std::string>& enabled,
                   const std::vector<std::string>& native);

// Validates (and fills defaults of) every plugin entity served by a plugin server, against the
// schema its server reported; entities of other plugins are left alone. Each error names the
// plugin, the entity and the field: "plugin 'js-hello' (id 1f.., route r1): config.message:
// expected a string".
std::vector<std::string> validate_plugins(const Registry& registry, std::vector<conf::Plugin>& plugins);
// The same against any schemas (native plugins'): `schema_of` gives a plugin name's schema, or
// null to leave its entities alone.
using SchemaOf = std::function<const nlohmann::json*(std::string_view name)>;
std::vector<std::string> validate_plugins(const SchemaOf& schema_of, std::vector<conf::Plugin>& plugins);

}  // namespace gh::pluginserver
