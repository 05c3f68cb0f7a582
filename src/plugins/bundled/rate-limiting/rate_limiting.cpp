// rate-limiting (Kong 3.9's kong/plugins/rate-limiting): counts requests per second, minute,
// hour, day, month and year for one identity (consumer, credential, ip, service, header or path,
// falling back to the client's ip) in the `local` store or in Redis, answers 429 (error_code)
// {"message": error_message} over a limit and tells the client its limits in X-RateLimit-* and
// RateLimit-* headers. Window arithmetic and headers: src/ratelimit; docs/plugins-bundled.md.
#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <ctime>
#include <memory>
#include <stdexcept>

#include "common/strings.h"
#include "plugins/bundled/rate-limiting/config.h"
#include "plugins/native.h"
#include "ratelimit/decision.h"
#include "ratelimit/policy.h"

namespace gh::plugins::bundled {
namespace {

using json = nlohmann::json;
using namespace gh::ratelimit;

// The id of an entity table (consumer, credential), "" when there is none.
std::string entity_id(const json& entity) {
  if (!entity.is_object()) return {};
  auto it = entity.find("id");
  return it != entity.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class RateLimiting final : public NativeHandler {
 public:
  RateLimiting(RateLimitingConfig config, std::unique_ptr<Policy> policy)
      : config_(std::move(config)), policy_(std::move(policy)) {}

  // The local policy answers at once: the whole phase is a plain call.
  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    // Redis's coroutine, without first making the windows it would make again.
    if (phase != core::Phase::access || config_.policy != RatePolicy::local) return false;
    const std::string id = identifier(kong);
    const Windows windows = windows_of(id);
    std::optional<Usage> usage = policy_->usage_now(windows);
    if (!usage) return false;
    if (admit(kong, windows, *usage)) policy_->increment(boost::asio::any_io_executor(), windows);
    return true;
  }

  // A policy that does I/O (redis).
  boost::asio::awaitable<void> access(pdk::Kong& kong) override {
    const std::string id = identifier(kong);
    const Windows windows = windows_of(id);
    Usage usage = co_await policy_->usage(windows);
    if (admit(kong, windows, usage)) policy_->increment(co_await boost::asio::this_coro::executor, windows);
  }

 private:
  // The windows `id` counts against now (they refer to `id`).
  Windows windows_of(std::string_view id) const {
    // Kong: ngx.time() * 1000, whole seconds.
    Windows windows(id, static_cast<int64_t>(std::time(nullptr)) * 1000);
    for (const auto& limit : config_.limits) windows.add(limit.period);
    return windows;
  }

  // Answers 429 when a limit is exceeded, else writes the limit headers: true when the request
  // counts (it goes on, or the store failed and fault_tolerant lets it through uncounted: Kong
  // still increments then).
  bool admit(pdk::Kong& kong, const Windows& windows, const Usage& usage) const {
    if (!usage.error.empty()) {
      // Kong: error(err) → the plugin fails, 500 "An unexpected error occurred".
      if (!config_.fault_tolerant) throw std::runtime_error(usage.error);
      kong.log.err("failed to get usage: " + usage.error);
      return true;
    }
    Decision decision = decide(config_.limits, std::span(usage.counts.data(), windows.size), windows.now_ms,
                               config_.hide_client_headers);
    if (decision.exceeded) {
      pdk::HeaderList headers;
      write_headers(decision, config_.limits, [&](std::string_view name, std::string_view value) {
        headers.emplace_back(std::string(name), std::string(value));
      });
      kong.response.exit_json(config_.error_code, json{{"message", config_.error_message}}, headers);
      return false;
    }
    // Up to nine headers: room for them at once, not a regrowth every few. Written as
    // kong.response.set_header writes them, without its checks: the names are this plugin's
    // constants and the values numbers, and checking and copying them was a third of the plugin.
    // set() replaces an earlier header of the same name; when the list holds none of these
    // names (nearly always: nothing else writes them), appending does the same without a scan
    // of the list per header.
    auto& response_headers = kong.context().response.headers;
    response_headers.reserve(response_headers.size() + 2 * decision.size + 3);
    const bool append =
        std::none_of(response_headers.begin(), response_headers.end(), [](const http::Header& h) {
          return starts_with_icase(h.name, "x-ratelimit-") || starts_with_icase(h.name, "ratelimit-") ||
                 iequals(h.name, "retry-after");
        });
    write_headers(decision, config_.limits, [&](std::string_view name, std::string_view value) {
      if (append)
        response_headers.append(name, value);
      else
        response_headers.set(name, std::string(value));
    });
    return true;
  }

  // Kong's get_identifier: the configured identity, else the client's (forwarded) ip.
  std::string identifier(pdk::Kong& kong) const {
    std::string id;
    switch (config_.limit_by) {
      case LimitBy::consumer:
        id = entity_id(kong.client.get_consumer());
        if (id.empty()) id = entity_id(kong.client.get_credential());
        break;
      case LimitBy::credential:
        id = entity_id(kong.client.get_credential());
        break;
      case LimitBy::service:
        if (const auto* service = kong.service()) id = service->id;
        break;
      case LimitBy::header:
        if (auto value = kong.request.get_header(config_.header_name)) id = std::string(*value);
        break;
      case LimitBy::path:
        if (kong.request.get_path() == config_.path) id = config_.path;
        break;
      case LimitBy::ip:
        break;
    }
    if (id.empty()) id = std::string(kong.client.get_forwarded_ip());
    return id;
  }

  RateLimitingConfig config_;
  std::unique_ptr<Policy> policy_;
};

std::unique_ptr<NativeHandler> make(const json& raw, SharedMemory& memory) {
  RateLimitingConfig config = parse_config(raw);
  std::unique_ptr<Policy> policy = make_policy(config, memory.rate_limit_counters);
  return std::make_unique<RateLimiting>(std::move(config), std::move(policy));
}

const NativeRegistration kRegistration{
    {"rate-limiting", "3.9.0", 910, core::bit(core::Phase::access), rate_limiting_schema(), make}};

}  // namespace
}  // namespace gh::plugins::bundled
