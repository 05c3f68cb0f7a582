// The process-wide upstream state: one UpstreamState per kong.yml upstream, replaced (keeping
// target health where the checks did not change) on every configuration load, and the active
// health checker: one prober per upstream for the whole process, on a thread of its own, so probes
// never run on, or wait for, a worker. Workers read the current set through version() + current().
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "conf/entities.h"
#include "upstream/health.h"

namespace gh::upstream {

struct UpstreamSet {
  std::unordered_map<std::string, std::shared_ptr<UpstreamState>> by_name;
  std::unordered_map<std::string, std::shared_ptr<UpstreamState>> by_id;
  const UpstreamState* find(const std::string& name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second.get();
  }
};

class HealthRegistry {
 public:
  HealthRegistry();
  ~HealthRegistry();
  HealthRegistry(const HealthRegistry&) = delete;
  HealthRegistry& operator=(const HealthRegistry&) = delete;

  // Installs the upstreams of a new configuration (before the snapshot that names them is
  // published) and (re)starts the probers. Called from one thread at a time.
  void apply(const std::vector<conf::Upstream>& upstreams);
  // Bumped by every apply(): a worker re-reads current() only when it changed.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  std::shared_ptr<const UpstreamSet> current() const;

  // Kong's GET /upstreams/{name or id}/health body; nullopt for an unknown upstream.
  std::optional<nlohmann::json> health(const std::string& name_or_id) const;

  enum class SetHealth { done, no_upstream, no_target, no_checks };
  // Kong's PUT /upstreams/{u}/targets/{t}/healthy|unhealthy: an operator marks a target. Upstreams
  // without health checks have no checker to tell (Kong answers 400 for those).
  SetHealth set_health(const std::string& upstream, std::string_view target, bool healthy) const;

 private:
  void start_thread();
  std::shared_ptr<const UpstreamState> find(const std::string& name_or_id) const;

  mutable std::mutex mutex_;
  std::shared_ptr<const UpstreamSet> set_;
  std::atomic<uint64_t> version_{0};
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  boost::asio::ssl::context probe_tls_{boost::asio::ssl::context::tls_client};
};

}  // namespace gh::upstream
