// Health of an upstream's targets, shared by every worker of the process: one UpstreamState per
// upstream, one TargetState per target. Workers read health with a relaxed atomic load per pick;
// reports (passive ones from proxied traffic, active ones from the prober) take the target's
// lock only while counters are moving, so a healthy target answering well costs one load.
// Counting follows Kong's lua-resty-healthcheck (docs/upstream.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "conf/entities.h"
#include "upstream/target.h"

namespace gh::upstream {

// What one exchange with a target said about its health.
enum class Result { success, http_failure, tcp_failure, timeout };
enum class CheckKind { active, passive };

// Kong's classification of a status: success, http_failure, or nothing (a status in neither list).
std::optional<Result> classify_status(int status, const conf::HealthyRule& healthy,
                                      const conf::UnhealthyRule& unhealthy);

class TargetState {
 public:
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  int connections() const { return connections_.load(std::memory_order_relaxed); }
  void connection_started() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void connection_ended() { connections_.fetch_sub(1, std::memory_order_relaxed); }

  // Counts one result against the thresholds; returns true when the health flipped.
  bool record(Result result, const conf::HealthyRule& healthy, const conf::UnhealthyRule& unhealthy);
  // Carries health over from the same target of the previous configuration.
  void inherit(const TargetState& previous) { healthy_.store(previous.healthy(), std::memory_order_relaxed); }
  // An operator's verdict (Kong's PUT /upstreams/{u}/targets/{t}/healthy|unhealthy): the counters
  // start over, so the checks move it again only after a full threshold of results.
  void set_health(bool healthy);

 private:
  void reset_counters();

  std::atomic<bool> healthy_{true};
  // Set while a counter is non-zero in the direction against the current health: only then
  // does a report need the lock (a success on a clean healthy target is a no-op).
  std::atomic<bool> counting_{false};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  int successes_ = 0, tcp_failures_ = 0, timeouts_ = 0, http_failures_ = 0;
};

class UpstreamState {
 public:
  // `previous`: the same upstream in the configuration before (null: none); its targets' health
  // is kept when the health checks did not change.
  UpstreamState(conf::Upstream config, const UpstreamState* previous);

  const conf::Upstream& config() const { return config_; }
  const std::vector<TargetAddress>& addresses() const { return addresses_; }
  size_t size() const { return targets_.size(); }
  TargetState& target(size_t i) const { return *targets_[i]; }
  // Picked at all: weight above 0 and healthy.
  bool available(size_t i) const { return config_.targets[i].weight > 0 && targets_[i]->healthy(); }
  // Kong's healthchecks.threshold: false when the healthy share of the weight is below it.
  bool above_threshold() const;
  uint64_t serial() const { return serial_; }

  bool active_checks() const { return active_; }
  bool passive_checks() const { return passive_; }
  void report(size_t i, CheckKind kind, Result result) const;
  // A response status: counted when it is in one of the check's lists.
  void report_status(size_t i, CheckKind kind, int status) const;

  // Consistent hashing: the continuum (target index per point, -1: empty), built once.
  const std::vector<int32_t>& continuum() const { return continuum_; }

  // Kong's GET /upstreams/{id}/health body.
  nlohmann::json health_json() const;
  // The target named by `target_or_id` ("host:port" as written in kong.yml, or the id the Admin
  // API shows for it), or nullopt.
  std::optional<size_t> find_target(std::string_view target_or_id) const;
  // Kong's health of target i: HEALTHCHECKS_OFF, HEALTHY or UNHEALTHY.
  const char* health_name(size_t i) const;

  std::atomic<bool> retired{false};  // replaced by a reload: its prober stops

 private:
  void build_continuum();

  conf::Upstream config_;
  std::vector<TargetAddress> addresses_;
  std::vector<std::unique_ptr<TargetState>> targets_;
  std::vector<int32_t> continuum_;
  bool active_ = false;
  bool passive_ = false;
  uint64_t serial_;
};

// xxHash32 with seed 0 (what Kong's consistent hashing uses, so a key lands where Kong puts it).
uint32_t xxhash32(std::string_view data);

}  // namespace gh::upstream
