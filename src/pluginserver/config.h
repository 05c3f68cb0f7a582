// Plugin-server configuration from kong.conf properties (kong-gateway-side.md §1), plus the
// gatehouse extensions (timeouts, failure policy). See docs/plugin-servers.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gh::pluginserver {

// What a plugin failure does to the request (pluginserver_<name>_on_error).
enum class OnError : uint8_t {
  fail_closed,  // the request ends with 500 (504 on a timeout)
  fail_open,    // the plugin is skipped, the request goes on
};

struct ServerConfig {
  std::string name;    // lower-cased, hyphens kept (log lines, default socket and binary names)
  std::string socket;  // Unix socket the gateway connects to
  std::optional<std::string> start_cmd;            // none: the server is managed externally
  std::optional<std::string> query_cmd;            // none only for the legacy go-pluginserver
  bool legacy_go = false;                          // legacy go_plugins_dir mode: per-plugin MessagePack info
  std::string legacy_exe;                          // go_pluginserver_exe (legacy mode)
  std::string legacy_plugins_dir;                  // go_plugins_dir (legacy mode)
  std::chrono::milliseconds ready_timeout{10000};  // pluginserver_<n>_ready_timeout: socket must accept
  std::chrono::milliseconds timeout{10000};        // pluginserver_<n>_timeout: per RPC (the bridges)
  std::chrono::milliseconds query_timeout{30000};  // pluginserver_<n>_query_timeout: query command
  OnError on_error = OnError::fail_closed;         // pluginserver_<n>_on_error
  // pluginserver_<n>_protocol: "auto" (the best the dump offers: Gatehouse:1 if listed in its
  // "Protocols", docs/protocol.md) or a protocol to use if offered (e.g. ProtoBuf:1 forces the classic one).
  std::string protocol = "auto";

  bool same_process(const ServerConfig& other) const;  // would the running process differ?
};

// Builds the server list. `props` holds every kong.conf key (lower-case) with its raw value,
// KONG_* environment already merged; `prefix` is the absolute prefix directory.
// Throws std::runtime_error naming the property for invalid settings (bad timeouts, an
// unparsable command, a missing query command: "query_command undefined for pluginserver <n>").
// `bin_dir` is where default server binaries are looked for (Kong: /usr/local/bin).
std::vector<ServerConfig> servers_from_properties(const std::map<std::string, std::string>& props,
                                                  const std::string& prefix,
                                                  const std::string& bin_dir = "/usr/local/bin");

// The property prefix of a server: "pluginserver_" + name with '-' replaced by '_'.
std::string property_prefix(const std::string& server_name);

// The `plugins` property as listed (default "bundled").
std::vector<std::string> plugins_property(const std::map<std::string, std::string>& props);

// The external plugin names enabled by the `plugins` property (minus "bundled" and "off").
std::vector<std::string> enabled_plugins(const std::map<std::string, std::string>& props);

}  // namespace gh::pluginserver
