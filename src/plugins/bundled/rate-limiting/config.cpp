#include "plugins/bundled/rate-limiting/config.h"

#include <cstdio>
#include <stdexcept>

#include "ratelimit/redis_policy.h"

namespace gh::plugins::bundled {

namespace {

using json = nlohmann::json;
using ratelimit::kPeriods;
using ratelimit::period_name;

json shorthand(const char* type, const char* target) {
  return {{"type", type}, {"translate_to", {"redis", target}}};
}

json redis_record() {
  json fields = json::array({
      {{"host", {{"type", "string"}}}},
      {{"port", {{"type", "integer"}, {"between", {0, 65535}}}}},
      {{"timeout", {{"type", "integer"}, {"between", {0, 2147483646}}, {"default", 2000}}}},
      {{"username", {{"type", "string"}}}},
      {{"password", {{"type", "string"}, {"len_min", 0}}}},
      {{"database", {{"type", "integer"}, {"default", 0}}}},
      {{"ssl", {{"type", "boolean"}, {"default", false}}}},
      {{"ssl_verify", {{"type", "boolean"}, {"default", false}}}},
      {{"server_name", {{"type", "string"}}}},
  });
  return {{"type", "record"}, {"fields", fields}};
}

std::string period_limit_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

LimitBy parse_limit_by(const std::string& name) {
  if (name == "credential") return LimitBy::credential;
  if (name == "ip") return LimitBy::ip;
  if (name == "service") return LimitBy::service;
  if (name == "header") return LimitBy::header;
  if (name == "path") return LimitBy::path;
  return LimitBy::consumer;
}

std::string string_or_empty(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void parse_limits(const json& config, RateLimitingConfig& out) {
  for (auto period : kPeriods) {
    auto it = config.find(period_name(period));
    if (it == config.end() || it->is_null()) continue;
    double value = it->get<double>();
    if (value <= 0)
      throw std::invalid_argument("config." + std::string(period_name(period)) +
                                  ": value must be greater than 0");
    out.limits.push_back({period, value});
  }
  if (out.limits.empty())
    throw std::invalid_argument(
        "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', "
        "'config.day', 'config.month', 'config.year'");
  // Kong's validate_periods_order: a longer period may not allow fewer requests.
  for (size_t i = 0; i < out.limits.size(); ++i)
    for (size_t j = i + 1; j < out.limits.size(); ++j)
      if (out.limits[j].limit < out.limits[i].limit)
        throw std::invalid_argument(
            "config: The limit for " + std::string(period_name(out.limits[j].period)) + "(" +
            period_limit_text(out.limits[j].limit) + ") cannot be lower than the limit for " +
            std::string(period_name(out.limits[i].period)) + "(" + period_limit_text(out.limits[i].limit) +
            ")");
}

void parse_redis(const json& config, RateLimitingConfig& out) {
  const json redis = config.value("redis", json::object());
  if (!redis.is_object()) return;
  out.redis.host = string_or_empty(redis, "host");
  out.redis.port = redis.contains("port") && redis["port"].is_number() ? redis["port"].get<int>() : 0;
  out.redis.timeout_ms = redis.value("timeout", 2000);
  out.redis.username = string_or_empty(redis, "username");
  out.redis.password = string_or_empty(redis, "password");
  out.redis.database = redis.value("database", 0);
  out.redis.ssl = redis.value("ssl", false);
  out.redis.ssl_verify = redis.value("ssl_verify", false);
  out.redis.server_name = string_or_empty(redis, "server_name");
  if (out.policy != RatePolicy::redis) return;
  if (out.redis.host.empty()) throw std::invalid_argument("config.redis.host: required field missing");
  if (!redis.contains("port") || redis["port"].is_null())
    throw std::invalid_argument("config.redis.port: required field missing");
}

}  // namespace

json rate_limiting_schema() {
  json fields = json::array();
  for (auto period : kPeriods)
    fields.push_back({{std::string(period_name(period)), {{"type", "number"}, {"gt", 0}}}});
  fields.push_back({{"limit_by",
                     {{"type", "string"},
                      {"default", "consumer"},
                      {"one_of", {"consumer", "credential", "ip", "service", "header", "path"}}}}});
  fields.push_back({{"header_name", {{"type", "string"}}}});
  fields.push_back({{"path", {{"type", "string"}, {"match", "^/"}}}});
  // DB-less Kong offers no `cluster` policy (it needs a database): one_of refuses it.
  fields.push_back(
      {{"policy",
        {{"type", "string"}, {"default", "local"}, {"len_min", 0}, {"one_of", {"local", "redis"}}}}});
  fields.push_back({{"fault_tolerant", {{"type", "boolean"}, {"required", true}, {"default", true}}}});
  fields.push_back({{"redis", redis_record()}});
  fields.push_back({{"hide_client_headers", {{"type", "boolean"}, {"required", true}, {"default", false}}}});
  fields.push_back({{"error_code", {{"type", "number"}, {"default", 429}, {"gt", 0}}}});
  fields.push_back({{"error_message", {{"type", "string"}, {"default", "API rate limit exceeded"}}}});
  fields.push_back({{"sync_rate", {{"type", "number"}, {"required", true}, {"default", -1}}}});
  // Kong 3.9 still accepts the flat redis_* fields of Kong < 3.6 (deprecated, removal in 4.0).
  json shorthands = json::array({
      {{"redis_host", shorthand("string", "host")}},
      {{"redis_port", shorthand("integer", "port")}},
      {{"redis_password", shorthand("string", "password")}},
      {{"redis_username", shorthand("string", "username")}},
      {{"redis_ssl", shorthand("boolean", "ssl")}},
      {{"redis_ssl_verify", shorthand("boolean", "ssl_verify")}},
      {{"redis_server_name", shorthand("string", "server_name")}},
      {{"redis_timeout", shorthand("integer", "timeout")}},
      {{"redis_database", shorthand("integer", "database")}},
  });
  json config = {{"type", "record"}, {"fields", fields}, {"shorthand_fields", shorthands}};
  return {{"name", "rate-limiting"}, {"fields", {{{"config", config}}}}};
}

RateLimitingConfig parse_config(const json& config) {
  RateLimitingConfig out;
  parse_limits(config, out);
  out.limit_by = parse_limit_by(config.value("limit_by", std::string("consumer")));
  out.header_name = string_or_empty(config, "header_name");
  out.path = string_or_empty(config, "path");
  if (out.limit_by == LimitBy::header && out.header_name.empty())
    throw std::invalid_argument("config.header_name: required field missing");
  if (out.limit_by == LimitBy::path && out.path.empty())
    throw std::invalid_argument("config.path: required field missing");
  out.policy =
      config.value("policy", std::string("local")) == "redis" ? RatePolicy::redis : RatePolicy::local;
  out.fault_tolerant = config.value("fault_tolerant", true);
  out.hide_client_headers = config.value("hide_client_headers", false);
  out.error_code = static_cast<int>(config.value("error_code", 429.0));
  out.error_message = config.value("error_message", std::string("API rate limit exceeded"));
  out.sync_rate = config.value("sync_rate", -1.0);
  if (out.policy != RatePolicy::redis && out.sync_rate != -1)
    throw std::invalid_argument("config: sync_rate can only be used with the redis policy");
  if (out.policy == RatePolicy::redis && out.sync_rate != -1 && out.sync_rate < 0.02)
    throw std::invalid_argument("config: sync_rate must be greater than 0.02, or -1 to disable");
  parse_redis(config, out);
  out.route_id = string_or_empty(config, "route_id");
  out.service_id = string_or_empty(config, "service_id");
  return out;
}

std::unique_ptr<ratelimit::Policy> make_policy(const RateLimitingConfig& config,
                                               ratelimit::LocalStore& local_counters) {
  if (config.policy == RatePolicy::redis)
    return std::make_unique<ratelimit::RedisPolicy>(config.redis, config.route_id, config.service_id);
  return std::make_unique<ratelimit::LocalPolicy>(local_counters, config.route_id, config.service_id);
}

}  // namespace gh::plugins::bundled
