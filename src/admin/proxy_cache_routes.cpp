#include "admin/proxy_cache_routes.h"

#include <algorithm>

namespace gh::admin {

namespace {

using nlohmann::json;

constexpr std::string_view kPluginName = "proxy-cache";

ApiResponse not_found() {
  return {404, {{"message", "Not found"}}};
}

ApiResponse method_not_allowed() {
  return {405, {{"message", "Method not allowed"}}};
}

// The store a proxy-cache plugin entity keeps its entries in (its memory.dictionary_name).
std::shared_ptr<cache::Store> store_of(const cache::Dictionaries& dictionaries, const conf::Plugin& plugin) {
  std::string dictionary = "kong_db_cache";
  if (auto m = plugin.config.find("memory"); m != plugin.config.end() && m->is_object())
    dictionary = m->value("dictionary_name", dictionary);
  return dictionaries.find(dictionary);
}

// Every proxy-cache plugin's store, each once (several plugins may share a dictionary).
std::vector<std::shared_ptr<cache::Store>> all_stores(const core::Snapshot& snapshot,
                                                      const cache::Dictionaries& dictionaries) {
  std::vector<std::shared_ptr<cache::Store>> stores;
  for (const auto& plugin : snapshot.config.plugins) {
    if (plugin.name != kPluginName) continue;
    auto store = store_of(dictionaries, plugin);
    if (store && std::find(stores.begin(), stores.end(), store) == stores.end())
      stores.push_back(std::move(store));
  }
  return stores;
}

// Kong's stored object: status, headers (a list for a repeated name), body, body_len, timestamp,
// ttl, version.
json entry_json(const cache::Entry& entry) {
  json headers = json::object();
  for (const auto& [name, value] : entry.headers) {
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = value;
    } else {
      if (!it->is_array()) *it = json::array({*it});
      it->push_back(value);
    }
  }
  return {{"status", entry.status},
          {"headers", headers},
          {"body", entry.body},
          {"body_len", entry.body.size()},
          {"timestamp", entry.timestamp},
          {"ttl", entry.ttl},
          {"version", 1}};
}

// GET shows the entry, DELETE removes it; 404 when no store has it.
ApiResponse entry_route(const std::string& method, const std::vector<std::shared_ptr<cache::Store>>& stores,
                        const std::string& key) {
  const bool get = method == "GET" || method == "HEAD";
  if (!get && method != "DELETE") return method_not_allowed();
  for (const auto& store : stores) {
    if (get) {
      if (auto entry = store->get(key)) return {200, entry_json(*entry)};
    } else if (store->erase(key)) {
      return {204, nullptr};
    }
  }
  return not_found();
}

}  // namespace

std::optional<ApiResponse> proxy_cache_routes(const core::Snapshot& snapshot,
                                              const cache::Dictionaries& dictionaries,
                                              const ApiRequest& request,
                                              const std::vector<std::string_view>& parts) {
  if (parts.empty() || parts[0] != kPluginName) return std::nullopt;
  const std::string& method = request.method;
  if (parts.size() == 1) {
    if (method != "DELETE") return method_not_allowed();
    for (const auto& store : all_stores(snapshot, dictionaries)) store->clear();
    return ApiResponse{204, nullptr};
  }
  if (parts.size() == 2)
    return entry_route(method, all_stores(snapshot, dictionaries), std::string(parts[1]));
  if (parts.size() == 4 && parts[2] == "caches") {
    const auto& plugins = snapshot.config.plugins;
    auto plugin = std::find_if(plugins.begin(), plugins.end(), [&](const conf::Plugin& p) {
      return p.id == parts[1] && p.name == kPluginName;
    });
    if (plugin == plugins.end()) return not_found();
    auto store = store_of(dictionaries, *plugin);
    if (!store) return not_found();
    return entry_route(method, {store}, std::string(parts[3]));
  }
  return not_found();
}

}  // namespace gh::admin
