// The rate-limiting plugin's configuration: Kong 3.9's schema (with the legacy flat redis_*
// fields as shorthands of the `redis` record), the entity checks the schema validator does not
// express, and the typed form the handler runs with.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ratelimit/decision.h"
#include "ratelimit/policy.h"
#include "redis/client.h"

namespace gh::plugins::bundled {

enum class LimitBy { consumer, credential, ip, service, header, path };
enum class RatePolicy { local, redis };

struct RateLimitingConfig {
  std::vector<ratelimit::Limit> limits;  // the configured periods, shortest first
  LimitBy limit_by = LimitBy::consumer;
  std::string header_name, path;
  RatePolicy policy = RatePolicy::local;
  bool fault_tolerant = true, hide_client_headers = false;
  int error_code = 429;
  std::string error_message = "API rate limit exceeded";
  double sync_rate = -1;
  redis::Options redis;
  std::string route_id, service_id;  // the plugin entity's scope (Kong's counter keys)
};

nlohmann::json rate_limiting_schema();
// From a config the schema validated (defaults filled). Throws std::invalid_argument with
// Kong's messages for what the schema's entity checks say.
RateLimitingConfig parse_config(const nlohmann::json& config);
// The policy's counters: Redis, or `local_counters` (the gateway's, SharedMemory).
std::unique_ptr<ratelimit::Policy> make_policy(const RateLimitingConfig& config,
                                               ratelimit::LocalStore& local_counters);

}  // namespace gh::plugins::bundled
