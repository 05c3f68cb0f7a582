#include "plugins/plugin_set.h"

#include <algorithm>
#include <stdexcept>

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

PhaseMask phase_bits(const std::vector<std::string>& phases) {
  PhaseMask bits = 0;
  for (const auto& p : phases) bits |= core::mask_of(p);
  return bits;
}

const NativePluginSpec* native_of(const std::vector<const NativePluginSpec*>& native,
                                  const std::string& name) {
  for (const auto* spec : native)
    if (spec->name == name) return spec;
  return nullptr;
}

std::unique_ptr<ConfiguredPlugin> native_plugin(const conf::Plugin& entity, const NativePluginSpec& spec,
                                                SharedMemory& memory) {
  auto plugin = std::make_unique<ConfiguredPlugin>();
  plugin->entity = &entity;
  plugin->native = &spec;
  plugin->name = entity.name;
  plugin->priority = spec.priority;
  plugin->phases = spec.phases;
  // Kong's handlers see the entity's scope in their conf (conf.route_id, conf.service_id):
  // rate-limiting keys its counters with them.
  nlohmann::json config = entity.config.is_object() ? entity.config : nlohmann::json::object();
  if (!entity.route_id.empty()) config["route_id"] = entity.route_id;
  if (!entity.service_id.empty()) config["service_id"] = entity.service_id;
  try {
    plugin->handler = spec.make(config, memory);
  } catch (const std::exception& e) {
    throw std::runtime_error("plugin '" + entity.name + "' (id " + entity.id + "): " + e.what());
  }
  if (!plugin->handler) throw std::runtime_error("native plugin '" + entity.name + "' made no handler");
  return plugin;
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
                     SeqAllocator& seqs, const std::vector<const NativePluginSpec*>& native,
                     SharedMemory& memory)
    : registry_(std::move(registry)) {
  for (const auto& entity : config.plugins) {
    if (!entity.enabled) continue;
    if (const auto* spec = native_of(native, entity.name)) {
      plugins_.push_back(native_plugin(entity, *spec, memory));
      continue;
    }
    if (!registry_) continue;
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
  for (const auto& p : plugins_) {
    if (by_name_.empty() || by_name_.back().front()->name != p->name) by_name_.emplace_back();
    by_name_.back().push_back(p.get());
  }
}

const ConfiguredPlugin* PluginSet::resolve(size_t index, std::string_view route_id,
                                           std::string_view service_id, std::string_view consumer_id) const {
  // The scopes in Kong's precedence order; an empty id in the request never matches a scope.
  struct Scope {
    bool consumer, route, service;
  };
  static constexpr Scope kOrder[] = {{true, true, true},   {true, true, false},  {true, false, true},
                                     {false, true, true},  {true, false, false}, {false, true, false},
                                     {false, false, true}, {false, false, false}};
  constexpr std::string_view kNone;
  const auto& entities = by_name_[index];
  for (const auto& scope : kOrder) {
    if ((scope.consumer && consumer_id.empty()) || (scope.route && route_id.empty()) ||
        (scope.service && service_id.empty()))
      continue;
    for (const auto* p : entities) {
      const auto& e = *p->entity;
      if (e.consumer_id == (scope.consumer ? consumer_id : kNone) &&
          e.route_id == (scope.route ? route_id : kNone) &&
          e.service_id == (scope.service ? service_id : kNone))
        return p;
    }
  }
  return nullptr;
}

std::vector<const ConfiguredPlugin*> PluginSet::collect(Phase phase, const std::string& route_id,
                                                        const std::string& service_id,
                                                        const std::string& consumer_id) const {
  std::vector<const ConfiguredPlugin*> out;
  for (size_t i = 0; i < by_name_.size(); ++i) {
    const auto* chosen = resolve(i, route_id, service_id, consumer_id);
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

bool PluginSet::may_run(Phase phase, const std::string& route_id, const std::string& service_id) const {
  for (const auto& p : plugins_) {
    const auto& e = *p->entity;
    if (p->has(phase) && (e.route_id.empty() || e.route_id == route_id) &&
        (e.service_id.empty() || e.service_id == service_id))
      return true;
  }
  return false;
}

// A reference, not a copy: it is read once per plugin name of the set, for every request.
std::string_view Collector::consumer_id() const {
  if (consumer_ && consumer_->is_object())
    if (auto it = consumer_->find("id"); it != consumer_->end() && it->is_string())
      return it->get_ref<const std::string&>();
  return {};
}

const ConfiguredPlugin* Collector::next() {
  while (next_name_ < set_.name_count()) {
    const auto* plugin = set_.resolve(next_name_++, route_id_, service_id_, consumer_id());
    if (!plugin) continue;
    resolved_.push_back(plugin);
    if (plugin->has(phase_)) return plugin;
  }
  return nullptr;
}

std::vector<const ConfiguredPlugin*> Collector::resolved(Phase later) const {
  std::vector<const ConfiguredPlugin*> out;
  for (const auto* p : resolved_)
    if (p->has(later)) out.push_back(p);
  return out;
}

}  // namespace gh::plugins
