#include "pluginserver/config.h"

#include <filesystem>
#include <stdexcept>

#include "common/log.h"
#include "common/strings.h"
#include "pluginserver/process.h"

namespace gh::pluginserver {

namespace {

std::optional<std::string> property(const std::map<std::string, std::string>& props, const std::string& key) {
  auto it = props.find(key);
  if (it == props.end()) return std::nullopt;
  auto value = trim(it->second);
  if (value.empty()) return std::nullopt;
  return std::string(value);
}

// "250" (milliseconds), "250ms", "5s".
std::chrono::milliseconds parse_duration(const std::string& key, const std::string& text) {
  std::string_view digits = text;
  long scale = 1;
  if (digits.ends_with("ms")) {
    digits.remove_suffix(2);
  } else if (digits.ends_with("s")) {
    digits.remove_suffix(1);
    scale = 1000;
  }
  digits = trim(digits);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos || digits.size() > 9)
    throw std::runtime_error(key + ": expected a duration in milliseconds (e.g. 5000, 5000ms or 5s), got '" +
                             text + "'");
  return std::chrono::milliseconds(std::stol(std::string(digits)) * scale);
}

// Parses the command now so that a bad command fails at configuration time, not at spawn.
void check_command(const std::string& key, const std::optional<std::string>& command) {
  if (!command) return;
  try {
    split_command(*command);
  } catch (const std::exception& e) {
    throw std::runtime_error(key + ": " + e.what());
  }
}

void read_extensions(const std::map<std::string, std::string>& props, const std::string& key_prefix,
                     ServerConfig& server) {
  if (auto v = property(props, key_prefix + "_ready_timeout"))
    server.ready_timeout = parse_duration(key_prefix + "_ready_timeout", *v);
  if (auto v = property(props, key_prefix + "_timeout"))
    server.timeout = parse_duration(key_prefix + "_timeout", *v);
  if (auto v = property(props, key_prefix + "_query_timeout"))
    server.query_timeout = parse_duration(key_prefix + "_query_timeout", *v);
  if (auto v = property(props, key_prefix + "_on_error")) {
    if (*v != "fail_closed" && *v != "fail_open")
      throw std::runtime_error(key_prefix + "_on_error: expected fail_closed or fail_open, got '" + *v + "'");
    server.on_error = *v == "fail_open" ? OnError::fail_open : OnError::fail_closed;
  }
  if (auto v = property(props, key_prefix + "_protocol")) server.protocol = *v;
}

ServerConfig named_server(const std::map<std::string, std::string>& props, const std::string& prefix,
                          const std::string& bin_dir, const std::string& name) {
  ServerConfig server;
  server.name = name;
  const std::string key = property_prefix(name);
  const std::string default_bin = bin_dir + "/" + name;
  const bool bin_exists = std::filesystem::exists(default_bin);

  server.socket = property(props, key + "_socket").value_or(prefix + "/" + name + ".socket");
  server.start_cmd = property(props, key + "_start_cmd");
  if (!server.start_cmd && bin_exists) server.start_cmd = default_bin;
  server.query_cmd = property(props, key + "_query_cmd");
  if (!server.query_cmd && bin_exists) server.query_cmd = default_bin + " -dump";
  if (!server.query_cmd) throw std::runtime_error("query_command undefined for pluginserver " + name);
  if (!server.start_cmd)
    spdlog::warn("start_command undefined for pluginserver {}; assuming external process management", name);
  check_command(key + "_start_cmd", server.start_cmd);
  check_command(key + "_query_cmd", server.query_cmd);
  read_extensions(props, key, server);
  return server;
}

// Kong 2.3–2.8: go_plugins_dir / go_pluginserver_exe become one server "go-pluginserver".
std::optional<ServerConfig> legacy_go_server(const std::map<std::string, std::string>& props,
                                             const std::string& prefix) {
  auto dir = property(props, "go_plugins_dir");
  if (!dir || *dir == "off") return std::nullopt;
  spdlog::warn(
      "go_plugins_dir and go_pluginserver_exe are deprecated (removed in Kong 3.0); configure the server "
      "with "
      "pluginserver_names instead");
  ServerConfig server;
  server.name = "go-pluginserver";
  server.legacy_go = true;
  server.legacy_plugins_dir = std::filesystem::absolute(*dir).lexically_normal().string();
  server.legacy_exe = property(props, "go_pluginserver_exe").value_or("/usr/local/bin/go-pluginserver");
  server.socket = prefix + "/go_pluginserver.sock";
  server.start_cmd = quote_argument(server.legacy_exe) + " -kong-prefix " + quote_argument(prefix) +
                     " -plugins-directory " + quote_argument(server.legacy_plugins_dir);
  read_extensions(props, "pluginserver_go_pluginserver", server);
  return server;
}

}  // namespace

bool ServerConfig::same_process(const ServerConfig& other) const {
  return name == other.name && socket == other.socket && start_cmd == other.start_cmd &&
         query_cmd == other.query_cmd && legacy_exe == other.legacy_exe &&
         legacy_plugins_dir == other.legacy_plugins_dir;
}

std::string property_prefix(const std::string& server_name) {
  std::string key = "pluginserver_" + server_name;
  for (auto& c : key)
    if (c == '-') c = '_';
  return key;
}

std::vector<ServerConfig> servers_from_properties(const std::map<std::string, std::string>& props,
                                                  const std::string& prefix, const std::string& bin_dir) {
  std::vector<ServerConfig> servers;
  for (const auto& raw : split_list(property(props, "pluginserver_names").value_or(""))) {
    std::string name = to_lower(raw);
    if (name == "off" || name == "none") continue;
    for (const auto& s : servers)
      if (s.name == name)
        throw std::runtime_error("pluginserver_names: duplicate server name '" + name + "'");
    servers.push_back(named_server(props, prefix, bin_dir, name));
  }
  if (servers.empty())
    if (auto legacy = legacy_go_server(props, prefix)) servers.push_back(std::move(*legacy));
  return servers;
}

std::vector<std::string> plugins_property(const std::map<std::string, std::string>& props) {
  return split_list(property(props, "plugins").value_or("bundled"));
}

std::vector<std::string> enabled_plugins(const std::map<std::string, std::string>& props) {
  std::vector<std::string> names;
  for (auto& name : plugins_property(props))
    if (name != "bundled" && name != "off") names.push_back(name);
  return names;
}

}  // namespace gh::pluginserver
