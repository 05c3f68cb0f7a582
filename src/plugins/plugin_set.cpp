#include "plugins/plugin_set.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

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
    if (by_name_.empty() || by_name_.back().front()->name != p->name) {
      by_name_.emplace_back();
      consumer_scoped_.push_back(false);
    }
    by_name_.back().push_back(p.get());
    if (!p->entity->consumer_id.empty()) consumer_scoped_.back() = true;
  }
  for (const auto& p : plugins_)
    if (p->entity->is_global())
      for (unsigned i = 0; i < core::kPhaseCount; ++i)
        if (p->has(static_cast<Phase>(i))) globals_[i].push_back(p.get());
  build_plans(config);
}

// Indexes each name's consumer-less entities by scope (a few hash lookups per route and name),
// so that building the plans stays linear in routes x names however many entities there are.
void PluginSet::build_plans(const conf::Declarative& config) {
  struct NameIndex {
    std::unordered_map<std::string, const ConfiguredPlugin*> route_service, route, service;
    const ConfiguredPlugin* global = nullptr;
  };
  std::vector<NameIndex> index(by_name_.size());
  for (size_t i = 0; i < by_name_.size(); ++i) {
    for (const auto* p : by_name_[i]) {  // the first entity of a scope wins, as in resolve()
      const auto& e = *p->entity;
      if (!e.consumer_id.empty()) continue;
      if (!e.route_id.empty() && !e.service_id.empty())
        index[i].route_service.try_emplace(e.route_id + '\n' + e.service_id, p);
      else if (!e.route_id.empty())
        index[i].route.try_emplace(e.route_id, p);
      else if (!e.service_id.empty())
        index[i].service.try_emplace(e.service_id, p);
      else if (!index[i].global)
        index[i].global = p;
    }
  }
  auto find = [](const auto& map, const std::string& key) -> const ConfiguredPlugin* {
    auto it = map.find(key);
    return it == map.end() ? nullptr : it->second;
  };
  for (const auto& route : config.routes) {
    if (route.id.empty()) continue;
    RoutePlan plan;
    plan.service_id = route.service_id;
    plan.without_consumer.resize(by_name_.size());
    for (size_t i = 0; i < by_name_.size(); ++i) {
      const auto& at = index[i];
      const ConfiguredPlugin* chosen = nullptr;
      if (!route.service_id.empty()) chosen = find(at.route_service, route.id + '\n' + route.service_id);
      if (!chosen) chosen = find(at.route, route.id);
      if (!chosen && !route.service_id.empty()) chosen = find(at.service, route.service_id);
      if (!chosen) chosen = at.global;
      plan.without_consumer[i] = chosen;
    }
    plan.may_run = may_run_mask(route.id, route.service_id);
    plans_.try_emplace(route.id, std::move(plan));
  }
}

const PluginSet::RoutePlan* PluginSet::plan(std::string_view route_id, std::string_view service_id) const {
  auto it = plans_.find(route_id);
  if (it == plans_.end() || it->second.service_id != service_id) return nullptr;
  return &it->second;
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

std::vector<const ConfiguredPlugin*> PluginSet::collect(Phase phase, std::string_view route_id,
                                                        std::string_view service_id,
                                                        std::string_view consumer_id) const {
  const RoutePlan* known = plan(route_id, service_id);
  std::vector<const ConfiguredPlugin*> out;
  for (size_t i = 0; i < by_name_.size(); ++i) {
    const bool plan_holds = known && (consumer_id.empty() || !consumer_scoped_[i]);
    const auto* chosen =
        plan_holds ? known->without_consumer[i] : resolve(i, route_id, service_id, consumer_id);
    if (chosen && chosen->has(phase)) out.push_back(chosen);
  }
  return out;
}

PhaseMask PluginSet::may_run_mask(std::string_view route_id, std::string_view service_id) const {
  PhaseMask mask = 0;
  for (const auto& p : plugins_) {
    const auto& e = *p->entity;
    if ((e.route_id.empty() || e.route_id == route_id) &&
        (e.service_id.empty() || e.service_id == service_id))
      mask |= p->phases;
  }
  return mask;
}

bool PluginSet::may_run(Phase phase, std::string_view route_id, std::string_view service_id) const {
  const RoutePlan* known = plan(route_id, service_id);
  return ((known ? known->may_run : may_run_mask(route_id, service_id)) & core::bit(phase)) != 0;
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
    const size_t name = next_name_++;
    // Without a consumer, or for a name no consumer-scoped entity has, the route's plan holds
    // exactly what the full precedence walk would find.
    const bool plan_holds = plan_ && (!set_.consumer_scoped(name) || consumer_id().empty());
    const auto* plugin = plan_holds ? plan_->without_consumer[name]
                                    : set_.resolve(name, route_id_, service_id_, consumer_id());
    if (!plugin) continue;
    if (resolved_.empty()) resolved_.reserve(set_.name_count() - name);  // not grown one by one
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
