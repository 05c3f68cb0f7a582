#include "upstream/health.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "common/log.h"
#include "conf/declarative.h"

namespace gh::upstream {

namespace {

std::atomic<uint64_t> next_serial{1};

bool contains(const std::vector<int>& list, int value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool rule_enabled(const conf::HealthyRule& h, const conf::UnhealthyRule& u) {
  return h.successes > 0 || u.tcp_failures > 0 || u.timeouts > 0 || u.http_failures > 0;
}

const char* result_name(Result r) {
  switch (r) {
    case Result::success:
      return "success";
    case Result::http_failure:
      return "HTTP failure";
    case Result::tcp_failure:
      return "TCP failure";
    case Result::timeout:
      return "timeout";
  }
  return "?";
}

}  // namespace

std::optional<Result> classify_status(int status, const conf::HealthyRule& healthy,
                                      const conf::UnhealthyRule& unhealthy) {
  if (contains(healthy.http_statuses, status)) return Result::success;
  if (contains(unhealthy.http_statuses, status)) return Result::http_failure;
  return std::nullopt;
}

void TargetState::reset_counters() {
  successes_ = tcp_failures_ = timeouts_ = http_failures_ = 0;
  counting_.store(false, std::memory_order_relaxed);
}

void TargetState::set_health(bool healthy) {
  std::lock_guard lock(mutex_);
  healthy_.store(healthy, std::memory_order_relaxed);
  reset_counters();
}

bool TargetState::record(Result result, const conf::HealthyRule& healthy,
                         const conf::UnhealthyRule& unhealthy) {
  const bool success = result == Result::success;
  int limit = 0;
  switch (result) {
    case Result::success:
      limit = healthy.successes;
      break;
    case Result::tcp_failure:
      limit = unhealthy.tcp_failures;
      break;
    case Result::timeout:
      limit = unhealthy.timeouts;
      break;
    case Result::http_failure:
      limit = unhealthy.http_failures;
      break;
  }
  if (limit == 0) return false;  // that counter is off
  // Nothing to count towards the state the target is already fully in.
  if (success == healthy_.load(std::memory_order_relaxed) && !counting_.load(std::memory_order_relaxed))
    return false;
  std::lock_guard lock(mutex_);
  const bool is_healthy = healthy_.load(std::memory_order_relaxed);
  int* counter = success                         ? &successes_
                 : result == Result::tcp_failure ? &tcp_failures_
                 : result == Result::timeout     ? &timeouts_
                                                 : &http_failures_;
  // A result in one direction clears the counts in the other (lua-resty-healthcheck).
  if (success)
    tcp_failures_ = timeouts_ = http_failures_ = 0;
  else
    successes_ = 0;
  if (success == is_healthy) {
    reset_counters();  // a success while healthy (or a failure while unhealthy) settles the state
    return false;
  }
  ++*counter;
  counting_.store(true, std::memory_order_relaxed);
  if (*counter < limit) return false;
  healthy_.store(success, std::memory_order_relaxed);
  reset_counters();
  return true;
}

UpstreamState::UpstreamState(conf::Upstream config, const UpstreamState* previous)
    : config_(std::move(config)), serial_(next_serial.fetch_add(1)) {
  const auto& checks = config_.healthchecks;
  active_ = checks.active.healthy.interval > 0 || checks.active.unhealthy.interval > 0;
  passive_ = rule_enabled(checks.passive.healthy, checks.passive.unhealthy);
  const bool keep = previous && previous->config_.healthchecks == checks;
  for (const auto& t : config_.targets) {
    addresses_.push_back(parse_target(t.target));
    targets_.push_back(std::make_unique<TargetState>());
    if (!keep) continue;
    for (size_t j = 0; j < previous->config_.targets.size(); ++j)
      if (previous->config_.targets[j].target == t.target) targets_.back()->inherit(*previous->targets_[j]);
  }
  if (config_.algorithm == "consistent-hashing") build_continuum();
}

bool UpstreamState::above_threshold() const {
  const double threshold = config_.healthchecks.threshold;
  if (threshold <= 0) return true;
  int64_t total = 0, healthy = 0;
  for (size_t i = 0; i < targets_.size(); ++i) {
    total += config_.targets[i].weight;
    if (targets_[i]->healthy()) healthy += config_.targets[i].weight;
  }
  return total > 0 && static_cast<double>(healthy) * 100.0 / static_cast<double>(total) >= threshold;
}

void UpstreamState::report(size_t i, CheckKind kind, Result result) const {
  const auto& checks = config_.healthchecks;
  const bool active = kind == CheckKind::active;
  if (!(active ? active_ : passive_)) return;
  const auto& healthy = active ? checks.active.healthy : checks.passive.healthy;
  const auto& unhealthy = active ? checks.active.unhealthy : checks.passive.unhealthy;
  if (!targets_[i]->record(result, healthy, unhealthy)) return;
  spdlog::warn("upstream '{}': target {} is now {} ({} {} check)", config_.name, config_.targets[i].target,
               targets_[i]->healthy() ? "healthy" : "unhealthy", active ? "active" : "passive",
               result_name(result));
}

void UpstreamState::report_status(size_t i, CheckKind kind, int status) const {
  const auto& checks = config_.healthchecks;
  const bool active = kind == CheckKind::active;
  const auto& healthy = active ? checks.active.healthy : checks.passive.healthy;
  const auto& unhealthy = active ? checks.active.unhealthy : checks.passive.unhealthy;
  if (auto result = classify_status(status, healthy, unhealthy)) report(i, kind, *result);
}

// Kong's continuum (a Ketama ring): each target gets points in proportion to its weight (160 per
// target at equal weights), placed by hashing "<host>::<port> <n>"; a key hashes to a point and
// walks down to the first target. Targets are placed in (host, port) order so collisions always
// resolve the same way. Points: `slots`, or 1000 when slots is below 1000 (as Kong).
void UpstreamState::build_continuum() {
  constexpr int kPointsPerTarget = 160;
  const size_t points = config_.slots >= 1000 ? static_cast<size_t>(config_.slots) : 1000;
  continuum_.assign(points, -1);
  std::vector<size_t> order;
  int64_t total_weight = 0;
  for (size_t i = 0; i < targets_.size(); ++i)
    if (config_.targets[i].weight > 0) order.push_back(i), total_weight += config_.targets[i].weight;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(addresses_[a].host, addresses_[a].port) <
           std::tie(addresses_[b].host, addresses_[b].port);
  });
  for (size_t i : order) {
    const double share = static_cast<double>(config_.targets[i].weight) / static_cast<double>(total_weight);
    auto entries = static_cast<size_t>(share * static_cast<double>(order.size()) * kPointsPerTarget);
    entries = std::max<size_t>(entries, 1);
    const std::string prefix = addresses_[i].host + "::" + std::to_string(addresses_[i].port) + " ";
    for (size_t n = 1; n <= entries; ++n) {
      if (n > points) {
        spdlog::error("upstream '{}': too few slots ({}) for its targets; raise 'slots'", config_.name,
                      points);
        return;
      }
      auto& slot = continuum_[xxhash32(prefix + std::to_string(n)) % points];
      if (slot < 0)
        slot = static_cast<int32_t>(i);
      else
        ++entries;  // a collision: the target takes one more point
    }
  }
}

std::optional<size_t> UpstreamState::find_target(std::string_view target_or_id) const {
  for (size_t i = 0; i < config_.targets.size(); ++i)
    if (config_.targets[i].target == target_or_id || conf::target_id(config_, i) == target_or_id) return i;
  return std::nullopt;
}

const char* UpstreamState::health_name(size_t i) const {
  if (!active_ && !passive_) return "HEALTHCHECKS_OFF";
  return targets_[i]->healthy() ? "HEALTHY" : "UNHEALTHY";
}

nlohmann::json UpstreamState::health_json() const {
  nlohmann::json data = nlohmann::json::array();
  for (size_t i = 0; i < targets_.size(); ++i) {
    const auto& t = config_.targets[i];
    const char* health = health_name(i);
    nlohmann::json address = {
        {"ip", addresses_[i].host}, {"port", addresses_[i].port}, {"health", health}, {"weight", t.weight}};
    data.push_back({{"target", t.target},
                    {"weight", t.weight},
                    {"upstream", {{"id", config_.id}}},
                    {"tags", t.tags},
                    {"health", health},
                    {"data", {{"addresses", nlohmann::json::array({address})}}}});
  }
  return {{"data", data}, {"total", data.size()}};
}

// xxHash32 (Yann Collet's algorithm, seed 0), from its specification.
uint32_t xxhash32(std::string_view data) {
  constexpr uint32_t p1 = 2654435761U, p2 = 2246822519U, p3 = 3266489917U, p4 = 668265263U, p5 = 374761393U;
  auto rotl = [](uint32_t x, int r) { return (x << r) | (x >> (32 - r)); };
  auto read32 = [](const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;  // little-endian hosts only (x86-64, arm64)
  };
  const char* p = data.data();
  const char* end = p + data.size();
  uint32_t h;
  if (data.size() >= 16) {
    uint32_t v1 = p1 + p2, v2 = p2, v3 = 0, v4 = 0 - p1;
    auto round = [&](uint32_t v, uint32_t lane) { return rotl(v + lane * p2, 13) * p1; };
    for (; p + 16 <= end; p += 16) {
      v1 = round(v1, read32(p));
      v2 = round(v2, read32(p + 4));
      v3 = round(v3, read32(p + 8));
      v4 = round(v4, read32(p + 12));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
  } else {
    h = p5;
  }
  h += static_cast<uint32_t>(data.size());
  for (; p + 4 <= end; p += 4) h = rotl(h + read32(p) * p3, 17) * p4;
  for (; p < end; ++p) h = rotl(h + static_cast<uint8_t>(*p) * p5, 11) * p1;
  h ^= h >> 15;
  h *= p2;
  h ^= h >> 13;
  h *= p3;
  h ^= h >> 16;
  return h;
}

}  // namespace gh::upstream
