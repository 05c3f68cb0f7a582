#include "upstream/registry.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "common/log.h"
#include "upstream/prober.h"

namespace gh::upstream {

namespace asio = boost::asio;

HealthRegistry::HealthRegistry() : set_(std::make_shared<UpstreamSet>()) {
  // Kong's lua_ssl_trusted_certificate default ("system"): probes verify against the system store.
  probe_tls_.set_default_verify_paths();
}

HealthRegistry::~HealthRegistry() {
  if (!thread_.joinable()) return;
  work_.reset();
  io_.stop();
  thread_.join();
}

void HealthRegistry::start_thread() {
  if (thread_.joinable()) return;
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] { io_.run(); });
}

std::shared_ptr<const UpstreamSet> HealthRegistry::current() const {
  std::lock_guard lock(mutex_);
  return set_;
}

void HealthRegistry::apply(const std::vector<conf::Upstream>& upstreams) {
  auto previous = current();
  auto next = std::make_shared<UpstreamSet>();
  std::vector<std::shared_ptr<UpstreamState>> probed;
  for (const auto& u : upstreams) {
    auto old = previous->by_id.find(u.id);
    auto state =
        std::make_shared<UpstreamState>(u, old == previous->by_id.end() ? nullptr : old->second.get());
    next->by_name[u.name] = state;
    next->by_id[u.id] = state;
    if (state->active_checks()) probed.push_back(state);
  }
  {
    std::lock_guard lock(mutex_);
    set_ = next;
  }
  version_.fetch_add(1, std::memory_order_release);
  for (const auto& [id, state] : previous->by_id) state->retired = true;
  if (probed.empty()) return;
  start_thread();
  for (auto& state : probed) asio::co_spawn(io_, run_prober(std::move(state), probe_tls_), asio::detached);
}

std::shared_ptr<const UpstreamState> HealthRegistry::find(const std::string& name_or_id) const {
  auto set = current();  // the state outlives a reload that replaces the set: it is shared
  if (auto it = set->by_id.find(name_or_id); it != set->by_id.end()) return it->second;
  if (auto it = set->by_name.find(name_or_id); it != set->by_name.end()) return it->second;
  return nullptr;
}

std::optional<nlohmann::json> HealthRegistry::health(const std::string& name_or_id) const {
  auto state = find(name_or_id);
  if (!state) return std::nullopt;
  return state->health_json();
}

HealthRegistry::SetHealth HealthRegistry::set_health(const std::string& upstream, std::string_view target,
                                                     bool healthy) const {
  auto found = find(upstream);
  if (!found) return SetHealth::no_upstream;
  const UpstreamState& state = *found;
  auto index = state.find_target(target);
  if (!index) return SetHealth::no_target;
  if (!state.active_checks() && !state.passive_checks()) return SetHealth::no_checks;
  state.target(*index).set_health(healthy);
  spdlog::warn("upstream '{}': target {} set {} through the Admin API", state.config().name,
               state.config().targets[*index].target, healthy ? "healthy" : "unhealthy");
  return SetHealth::done;
}

}  // namespace gh::upstream
