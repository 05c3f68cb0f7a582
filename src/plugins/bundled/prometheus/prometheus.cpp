// prometheus (Kong's kong/plugins/prometheus, 3.9): counts, in its log phase, the requests of the
// routes and services it is enabled on into Kong's families (kong_http_requests_total,
// kong_bandwidth_bytes, kong_kong_latency_ms, kong_upstream_latency_ms,
// kong_request_latency_ms), each behind its config switch. The families live in the gateway's
// metrics registry (plugins::SharedMemory::metrics, src/metrics/), sharded per thread: a request updates its
// own thread's cells without a lock. /metrics (admin and status listeners, src/admin/metrics_endpoint.cpp)
// renders them with the node's gauges.
#include <array>
#include <charconv>
#include <cstdio>

#include "metrics/metrics.h"
#include "pdk/serialize.h"
#include "plugins/native.h"

namespace gh::plugins {
namespace {

using nlohmann::json;

// The families /metrics shows while a prometheus plugin is configured (every "kong_" family
// of the registry; src/admin/metrics_endpoint.cpp).
struct PrometheusFamilies {
  metrics::Counter& requests;
  metrics::Counter& bandwidth;
  metrics::Histogram& kong_latency;
  metrics::Histogram& upstream_latency;
  metrics::Histogram& request_latency;
};

// Kong's buckets: KONG_LATENCY_BUCKETS (3.9: up to 6000) and UPSTREAM_LATENCY_BUCKETS.
constexpr std::array<double, 17> kKongBuckets{1,  2,   5,   7,   10,  15,   20,   30,  50,
                                              75, 100, 200, 500, 750, 1000, 3000, 6000};
constexpr std::array<double, 13> kUpstreamBuckets{25,   50,   80,   100,   250,   400,  700,
                                                  1000, 2000, 5000, 10000, 30000, 60000};

// The families in `registry` (made by the first plugin, found by the next ones and by every
// reload: the registry keeps them, so counts survive a reload as Kong's shared dict does).
PrometheusFamilies prometheus_families(metrics::Registry& registry) {
  const std::vector<double> kong(kKongBuckets.begin(), kKongBuckets.end());
  const std::vector<double> upstream(kUpstreamBuckets.begin(), kUpstreamBuckets.end());
  return PrometheusFamilies{
      registry.counter("kong_http_requests_total", "HTTP status codes per consumer/service/route in Kong",
                       {"service", "route", "code", "source", "workspace", "consumer"}),
      registry.counter("kong_bandwidth_bytes", "Total bandwidth (ingress/egress) throughput in bytes",
                       {"service", "route", "direction", "workspace", "consumer"}),
      registry.histogram("kong_kong_latency_ms",
                         "Latency added by Kong and enabled plugins for each service/route in Kong",
                         {"service", "route", "workspace"}, kong),
      registry.histogram("kong_upstream_latency_ms",
                         "Latency added by upstream response for each service/route in Kong",
                         {"service", "route", "workspace"}, upstream),
      registry.histogram("kong_request_latency_ms",
                         "Total latency incurred during requests for each service/route in Kong",
                         {"service", "route", "workspace"}, upstream),
  };
}

// DB-less Kong has one workspace.
constexpr std::string_view kWorkspace = "default";

class Prometheus final : public NativeHandler {
 public:
  Prometheus(const json& config, metrics::Registry& registry)
      : per_consumer_(config.value("per_consumer", false)),
        status_codes_(config.value("status_code_metrics", false)),
        latencies_(config.value("latency_metrics", false)),
        bandwidth_(config.value("bandwidth_metrics", false)),
        families_(prometheus_families(registry)) {}

  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::log) return false;
    const auto& ctx = kong.context();
    // Kong's exporter records nothing for a request no route matched.
    if (!ctx.match || !ctx.match->route) return true;
    const auto* route = ctx.match->route;
    const auto* service = ctx.match->service;
    const std::string_view service_name = !service                ? std::string_view()
                                          : service->name.empty() ? std::string_view(service->host)
                                                                  : std::string_view(service->name);
    const std::string_view route_name =
        route->name.empty() ? std::string_view(route->id) : std::string_view(route->name);
    const std::string_view consumer = consumer_label(kong);
    if (bandwidth_) count_bandwidth(ctx, service_name, route_name, consumer);
    if (status_codes_) count_status(ctx, service_name, route_name, consumer);
    if (latencies_) observe_latencies(ctx, service_name, route_name);
    return true;
  }

 private:
  // Kong labels a consumer by its username ("" without per_consumer, or without a username).
  std::string_view consumer_label(pdk::Kong& kong) const {
    if (!per_consumer_) return "";
    const auto& consumer = kong.client.get_consumer();
    if (!consumer.is_object()) return "";
    auto it = consumer.find("username");
    return it != consumer.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>()) : "";
  }

  void count_bandwidth(const core::RequestContext& ctx, std::string_view service, std::string_view route,
                       std::string_view consumer) const {
    if (ctx.request_bytes > 0)
      families_.bandwidth.add({service, route, "ingress", kWorkspace, consumer},
                              static_cast<double>(ctx.request_bytes));
    if (ctx.response_bytes > 0)
      families_.bandwidth.add({service, route, "egress", kWorkspace, consumer},
                              static_cast<double>(ctx.response_bytes));
  }

  void count_status(const core::RequestContext& ctx, std::string_view service, std::string_view route,
                    std::string_view consumer) const {
    std::array<char, 12> code{};
    const auto n =
        std::to_chars(code.data(), code.data() + code.size(), ctx.response.status).ptr - code.data();
    const std::string_view source = ctx.response.source == "service" ? "service" : "kong";
    families_.requests.add({service, route, std::string_view(code.data(), static_cast<size_t>(n)), source,
                            kWorkspace, consumer});
  }

  void observe_latencies(const core::RequestContext& ctx, std::string_view service,
                         std::string_view route) const {
    const auto l = pdk::request_latencies(ctx);
    const std::array<std::string_view, 3> labels{service, route, kWorkspace};
    const metrics::LabelKey key(labels);  // the same labels for all three: one key, one hash
    if (l.request >= 0) families_.request_latency.observe(key, static_cast<double>(l.request));
    if (l.proxy >= 0) families_.upstream_latency.observe(key, static_cast<double>(l.proxy));
    if (l.kong >= 0) families_.kong_latency.observe(key, static_cast<double>(l.kong));
  }

  bool per_consumer_, status_codes_, latencies_, bandwidth_;
  PrometheusFamilies families_;
};

json switch_field(const char* name) {
  return {{name, {{"type", "boolean"}, {"default", false}}}};
}

NativePluginSpec spec() {
  return {
      "prometheus",
      "3.9.0",
      13,
      core::bit(core::Phase::log),
      {{"name", "prometheus"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {switch_field("per_consumer"), switch_field("status_code_metrics"), switch_field("ai_metrics"),
              switch_field("latency_metrics"), switch_field("bandwidth_metrics"),
              switch_field("upstream_health_metrics")}}}}}}}},
      [](const json& config, SharedMemory& memory) {
        return std::make_unique<Prometheus>(config, memory.metrics);
      },
      /*log_reads_response_headers=*/false,
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
