#include "pluginserver/cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "pluginserver/config.h"

namespace gh::pluginserver {

namespace {

using nlohmann::json;

std::string text_of(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string joined(const json& list) {
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : ",") + text_of(item);
  return out.empty() ? "-" : out;
}

}  // namespace

json plugin_servers_json(const Registry& registry, const Supervisor* supervisor) {
  json status = supervisor ? supervisor->status() : json::array();
  json servers = json::array();
  for (const auto& server : registry.servers()) {
    json entry = {{"name", server.name},
                  {"socket", server.socket},
                  {"managed", server.start_cmd.has_value()},
                  {"start_cmd", server.start_cmd ? json(*server.start_cmd) : json()},
                  {"query_cmd", server.query_cmd ? json(*server.query_cmd) : json()},
                  {"state", "not started"},
                  {"pid", nullptr},
                  {"restarts", nullptr},
                  {"last_exit", nullptr},
                  {"ready", nullptr}};
    for (const auto& s : status)
      if (s["name"] == server.name)
        for (auto key : {"state", "pid", "restarts", "last_exit", "ready"}) entry[key] = s[key];
    json plugins = json::array();
    for (const PluginInfo* p : registry.plugins_of(server.name))
      plugins.push_back({{"name", p->name},
                         {"version", p->version},
                         {"priority", p->priority},
                         {"phases", p->phases},
                         {"protocol", p->protocol}});
    entry["plugins"] = std::move(plugins);
    servers.push_back(std::move(entry));
  }
  return {{"servers", servers}};
}

std::string plugin_servers_text(const json& document) {
  std::string out;
  const json native = document.value("native", json::array());
  if (!native.empty()) {
    out += "native plugins (in the gateway; enabled by `plugins`: bundled or by name)\n";
    out += fmt::format("  {:<24} {:<10} {:>8}  {:<12} {}\n", "PLUGIN", "VERSION", "PRIORITY", "ENABLED",
                       "PHASES");
    for (const auto& p : native)
      out +=
          fmt::format("  {:<24} {:<10} {:>8}  {:<12} {}\n", text_of(p["name"]), text_of(p["version"]),
                      text_of(p["priority"]), p.value("enabled", false) ? "yes" : "no", joined(p["phases"]));
  }
  for (const auto& server : document.value("servers", json::array())) {
    out += fmt::format(
        "server {}  state={} pid={} restarts={} ready={} last_exit={}\n  socket: {}\n  start: {}\n",
        text_of(server["name"]), text_of(server["state"]), text_of(server["pid"]),
        text_of(server["restarts"]), text_of(server["ready"]), text_of(server["last_exit"]),
        text_of(server["socket"]), text_of(server["start_cmd"]));
    out += fmt::format("  {:<24} {:<10} {:>8}  {:<12} {}\n", "PLUGIN", "VERSION", "PRIORITY", "PROTOCOL",
                       "PHASES");
    for (const auto& p : server.value("plugins", json::array()))
      out += fmt::format("  {:<24} {:<10} {:>8}  {:<12} {}\n", text_of(p["name"]), text_of(p["version"]),
                         text_of(p["priority"]), text_of(p["protocol"]), joined(p["phases"]));
  }
  if (document.value("servers", json::array()).empty()) out += "no plugin servers configured\n";
  return out;
}

int print_plugins(const std::map<std::string, std::string>& props, const std::string& prefix,
                  std::ostream& out, bool as_json, const json& native) {
  try {
    auto servers = servers_from_properties(props, prefix);
    // Listing is for finding out what is installed: do not fail on enabled-but-missing plugins.
    auto is_native = [&native](const std::string& name) {
      return std::any_of(native.begin(), native.end(), [&name](const json& p) { return p["name"] == name; });
    };
    std::vector<std::string> enabled;
    for (auto& name : enabled_plugins(props))
      if (!is_native(name)) enabled.push_back(std::move(name));
    Registry registry = query_servers(servers, enabled);
    json document = plugin_servers_json(registry, nullptr);
    if (!native.empty()) document["native"] = native;
    std::vector<std::string> missing;
    for (const auto& name : enabled)
      if (!registry.find(name)) missing.push_back(name);
    if (as_json) {
      document["enabled_but_not_provided"] = missing;
      out << document.dump(2) << "\n";
    } else {
      out << plugin_servers_text(document);
      for (const auto& name : missing)
        out << "note: " << name << " is enabled in `plugins` but no plugin server provides it"
            << " (a native plugin, or not installed)\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace gh::pluginserver
