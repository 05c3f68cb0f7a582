#include "plugins/plugin_set.h"

#include <algorithm>

namespace gh::plugins {

int64_t SeqAllocator::seq_for(const std::string& plugin_id, const std::string& config_text) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = seqs_.try_emplace({plugin_id, config_text}, next_);
  if (inserted) ++next_;
  return it->second;
}

bool runs_before(const ConfiguredPlugin& a, const ConfiguredPlugin& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.name > b.name;
}

namespace {

unsigned phase_bits(const std::vector<std::string>& phases) {
  unsigned bits = 0;
  for (const auto& p : phases)
    if (auto phase = parse_phase(p)) bits |= phase_bit(*phase);
  return bits;
}

// Kong's plugin cache key: plugins:<name>:<route>:<service>:<consumer>:<protocols?>:<ws>.
std::string cache_key(const conf::Plugin& p) {
  return "plugins:" + p.name + ":" + p.route_id + ":" + p.service_id + ":" + p.consumer_id + "::";
}

// The JSON text StartInstance carries (kong-gateway-side.md §4.2), without __seq__.
nlohmann::json instance_config(const conf::Plugin& p) {
  nlohmann::json config = p.config.is_object() ? p.config : nlohmann::json::object();
  if (!p.route_id.empty()) config["route_id"] = p.route_id;
  if (!p.service_id.empty()) config["service_id"] = p.service_id;
  if (!p.consumer_id.empty()) config["consumer_id"] = p.consumer_id;
  config["__key__"] = cache_key(p);
  config["__plugin_id"] = p.id;
  return config;
}

}  // namespace

PluginSet::PluginSet(const conf::Declarative& config, std::shared_ptr<const pluginserver::Registry> registry,
                     SeqAllocator& seqs)
    : registry_(std::move(registry)) {
  for (const auto& entity : config.plugins) {
    if (!entity.enabled || !registry_) continue;
    const auto* info = registry_->find(entity.name);
    if (!info) continue;
    auto plugin = std::make_unique<ConfiguredPlugin>();
    plugin->entity = &entity;
    plugin->info = info;
    plugin->server = registry_->server(info->server);
    plugin->name = entity.name;
    plugin->priority = info->priority;
    plugin->phases = phase_bits(info->phases);
    auto json = instance_config(entity);
    plugin->seq = seqs.seq_for(entity.id, json.dump());
    json["__seq__"] = plugin->seq;
    plugin->config_json = json.dump();
    plugins_.push_back(std::move(plugin));
  }
  std::stable_sort(plugins_.begin(), plugins_.end(),
                   [](const auto& a, const auto& b) { return runs_before(*a, *b); });
  for (const auto& p : plugins_)
    if (names_.empty() || names_.back() != p->name) names_.push_back(p->name);
}

std::vector<const ConfiguredPlugin*> PluginSet::collect(Phase phase, const std::string& route_id,
                                                        const std::string& service_id,
                                                        const std::string& consumer_id) const {
  std::vector<const ConfiguredPlugin*> out;
  // The scopes in Kong's precedence order; an empty id in the request never matches a scope.
  struct Scope {
    bool consumer, route, service;
  };
  static constexpr Scope kOrder[] = {{true, true, true},   {true, true, false},  {true, false, true},
                                     {false, true, true},  {true, false, false}, {false, true, false},
                                     {false, false, true}, {false, false, false}};
  for (const auto& name : names_) {
    const ConfiguredPlugin* chosen = nullptr;
    for (const auto& scope : kOrder) {
      if ((scope.consumer && consumer_id.empty()) || (scope.route && route_id.empty()) ||
          (scope.service && service_id.empty()))
        continue;
      for (const auto& p : plugins_) {
        if (p->name != name) continue;
        const auto& e = *p->entity;
        if (e.consumer_id != (scope.consumer ? consumer_id : std::string())) continue;
        if (e.route_id != (scope.route ? route_id : std::string())) continue;
        if (e.service_id != (scope.service ? service_id : std::string())) continue;
        chosen = p.get();
        break;
      }
      if (chosen) break;
    }
    if (chosen && chosen->has(phase)) out.push_back(chosen);
  }
  return out;
}

std::vector<const ConfiguredPlugin*> PluginSet::globals(Phase phase) const {
  std::vector<const ConfiguredPlugin*> out;
  for (const auto& p : plugins_)
    if (p->entity->is_global() && p->has(phase)) out.push_back(p.get());
  return out;
}

}  // namespace gh::plugins
