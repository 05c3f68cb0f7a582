// The Admin API's endpoints (Kong's DB-less subset, docs/admin-api.md), independent of the
// transport: admin_server.cpp reads a request (head and bounded body) and writes what handle()
// returns. Everything runs on the control thread.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "proxy/gateway.h"

namespace gh::admin {

struct ApiRequest {
  std::string method;
  std::string path;                          // percent-decoded, without the query string
  std::map<std::string, std::string> query;  // percent-decoded; a repeated key keeps its last value
  std::string content_type;                  // lower-case, parameters kept
  std::string body;
};

struct ApiResponse {
  ApiResponse(int status_ = 200, nlohmann::json body_ = nullptr) : status(status_), body(std::move(body_)) {}
  int status = 200;
  nlohmann::json body;  // null: no body (304)
  // A body that is not JSON (GET /metrics): sent as is, with this content type, when it is set.
  std::string content_type;
  std::string text;
};

class Api {
 public:
  using Provider = std::function<nlohmann::json()>;
  explicit Api(proxy::Gateway& gateway) : gateway_(gateway) {}

  ApiResponse handle(const ApiRequest& request);         // admin_listen
  ApiResponse handle_status(const ApiRequest& request);  // status_listen: /status, /status/ready, /metrics

  // Extra GET endpoints provided by other layers (e.g. "/plugin-servers").
  void add_endpoint(std::string path, Provider provider) {
    endpoints_[std::move(path)] = std::move(provider);
  }
  // Why the node is not ready ("" = ready), beyond a loaded configuration and not draining.
  void set_readiness(std::function<std::string()> not_ready) { not_ready_ = std::move(not_ready); }

 private:
  ApiResponse status() const;
  ApiResponse metrics() const;  // Kong's prometheus exposition (admin/metrics_endpoint.h)
  ApiResponse ready() const;
  ApiResponse root() const;
  ApiResponse set_target_health(const std::string& upstream, std::string_view target, bool healthy);
  ApiResponse post_config(const ApiRequest& request);
  std::string log_level_name() const;
  ApiResponse put_log_level(const std::string& level);

  proxy::Gateway& gateway_;
  std::map<std::string, Provider, std::less<>> endpoints_;
  std::function<std::string()> not_ready_;
  // The level a PUT /debug/node/log-level set, and the configuration generation it applies to
  // (a reload brings kong.conf's log_level back).
  std::string put_level_;
  uint64_t put_level_generation_ = 0;
};

// The kong.conf properties shown as "******" (GET /'s configuration, the CLI's --vv): passwords,
// secrets, tokens, *_key values and declarative_config_string.
bool is_secret_property(const std::string& key);

// Splits a query string into percent-decoded pairs ('+' is a space, as in forms).
std::map<std::string, std::string> parse_query(std::string_view query);
std::string percent_decode(std::string_view text);

}  // namespace gh::admin
