#include "admin/metrics_endpoint.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "common/strings.h"
#include "common/version.h"
#include "logsink/loop.h"
#include "metrics/metrics.h"

namespace gh::admin {

namespace {

using metrics::Type;
using metrics::Values;

// What the configuration asks of the exporter: Kong's exporter.configure (any prometheus plugin
// enables its families; any with upstream_health_metrics enables target health).
struct ExporterSwitches {
  bool enabled = false;
  bool upstream_health = false;
};

ExporterSwitches switches_of(const conf::Declarative& config) {
  ExporterSwitches out;
  for (const auto& plugin : config.plugins) {
    if (plugin.name != "prometheus" || !plugin.enabled) continue;
    out.enabled = true;
    if (plugin.config.value("upstream_health_metrics", false)) out.upstream_health = true;
  }
  return out;
}

// The node's gauges, computed at each scrape (Kong's LOCAL_STORAGE gauges).
std::vector<std::unique_ptr<Values>> node_gauges(const proxy::Gateway& gateway, const std::string& node) {
  std::vector<std::unique_ptr<Values>> out;
  const auto stats = connection_stats(gateway);
  auto& connections = *out.emplace_back(
      std::make_unique<Values>("kong_nginx_connections_total", "Number of connections by subsystem",
                               Type::gauge, std::vector<std::string>{"node_id", "subsystem", "state"}));
  const std::pair<const char*, uint64_t> states[] = {
      {"accepted", stats.accepted}, {"handled", stats.accepted}, {"total", stats.requests},
      {"active", stats.active},     {"reading", stats.reading},  {"writing", stats.writing},
      {"waiting", stats.waiting}};
  for (const auto& [state, value] : states)
    connections.set({node, "http", state}, static_cast<double>(value));
  out.emplace_back(std::make_unique<Values>("kong_nginx_requests_total", "Number of requests total",
                                            Type::gauge, std::vector<std::string>{"node_id", "subsystem"}))
      ->set({node, "http"}, static_cast<double>(stats.requests));
  // DB-less: the configuration is in memory, as Kong's "off" strategy always reaches it.
  out.emplace_back(std::make_unique<Values>("kong_datastore_reachable",
                                            "Datastore reachable from Kong, 0 is unreachable", Type::gauge,
                                            std::vector<std::string>{}))
      ->set(metrics::LabelValues{}, 1);
  out.emplace_back(std::make_unique<Values>("kong_node_info", "Kong Node metadata information", Type::gauge,
                                            std::vector<std::string>{"node_id", "version"}))
      ->set({node, kVersion}, 1);
  return out;
}

// Kong's kong_upstream_target_health: four series per target, 1 on its state. Health is per
// target here (gatehouse does not track resolved addresses apart): the address is the target's.
std::unique_ptr<Values> target_health(const proxy::Gateway& gateway) {
  auto family = std::make_unique<Values>(
      "kong_upstream_target_health",
      "Health status of targets of upstream. States = healthchecks_off|healthy|unhealthy|dns_error, value is "
      "1 "
      "when state is populated.",
      Type::gauge, std::vector<std::string>{"upstream", "target", "address", "state", "subsystem"});
  const auto set = gateway.upstreams().current();
  if (!set) return family;
  for (const auto& [name, upstream] : set->by_name) {
    const auto& targets = upstream->config().targets;
    for (size_t i = 0; i < targets.size(); ++i) {
      const auto& address = upstream->addresses()[i];
      const std::string address_label = address.host + ":" + std::to_string(address.port);
      const std::string state = to_lower(upstream->health_name(i));
      for (const char* label : {"healthchecks_off", "healthy", "unhealthy", "dns_error"})
        family->set({name, targets[i].target, address_label, label, "http"}, state == label ? 1 : 0);
    }
  }
  return family;
}

// gatehouse_plugin_server_*: the supervisor's view of each plugin server, at this scrape.
std::vector<std::unique_ptr<Values>> plugin_server_gauges(proxy::Gateway& gateway) {
  std::vector<std::unique_ptr<Values>> out;
  auto* runtime = gateway.plugin_runtime();
  if (!runtime) return out;
  const std::vector<std::string> server{"server"};
  auto& up = *out.emplace_back(
      std::make_unique<Values>("gatehouse_plugin_server_up",
                               "1 when the plugin server's socket accepts connections", Type::gauge, server));
  auto& restarts = *out.emplace_back(
      std::make_unique<Values>("gatehouse_plugin_server_restarts_total",
                               "Restarts of the plugin server by the supervisor", Type::counter, server));
  auto& exit_code = *out.emplace_back(std::make_unique<Values>(
      "gatehouse_plugin_server_last_exit_code",
      "Exit status of the plugin server's last process (128 + signal when killed)", Type::gauge, server));
  for (const auto& s : runtime->status()) {
    const std::string name = s.value("name", "");
    up.set({name}, s.value("ready", false) ? 1 : 0);
    restarts.set({name}, s.value("restarts", 0));
    if (s.contains("last_exit_code") && s["last_exit_code"].is_number())
      exit_code.set({name}, s["last_exit_code"].get<int>());
  }
  return out;
}

// gatehouse_log_queue_*: the log plugins' queues (http-log, file-log, tcp-log, udp-log): what waits,
// what was delivered, dropped when full, or lost after max_retry_time.
std::vector<std::unique_ptr<Values>> log_queue_metrics(logsink::LogSinks& sinks) {
  std::vector<std::unique_ptr<Values>> out;
  const std::vector<std::string> labels{"plugin", "queue"};
  auto family = [&](const char* name, const char* help, Type type) -> Values& {
    return *out.emplace_back(std::make_unique<Values>(name, help, type, labels));
  };
  auto& waiting = family("gatehouse_log_queue_entries", "Log entries waiting in the queue", Type::gauge);
  auto& sent = family("gatehouse_log_queue_sent_total", "Log entries delivered", Type::counter);
  auto& dropped =
      family("gatehouse_log_queue_dropped_total",
             "Log entries dropped because the queue was full (max_entries, max_bytes)", Type::counter);
  auto& lost =
      family("gatehouse_log_queue_lost_total", "Log entries given up after max_retry_time", Type::counter);
  for (const auto& q : sinks.queue_stats()) {
    waiting.set({q.plugin, q.name}, static_cast<double>(q.waiting));
    sent.set({q.plugin, q.name}, static_cast<double>(q.sent));
    dropped.set({q.plugin, q.name}, static_cast<double>(q.dropped));
    lost.set({q.plugin, q.name}, static_cast<double>(q.lost));
  }
  return out;
}

}  // namespace

ConnectionStats connection_stats(const proxy::Gateway& gateway) {
  ConnectionStats stats;
  for (const auto& w : gateway.workers()) {
    stats.active += static_cast<uint64_t>(std::max(0, w->active_connections.load(std::memory_order_relaxed)));
    stats.writing += static_cast<uint64_t>(std::max(0, w->active_requests.load(std::memory_order_relaxed)));
    stats.accepted += w->connections_accepted.load(std::memory_order_relaxed);
    stats.requests += w->requests_total.load(std::memory_order_relaxed);
  }
  stats.waiting = stats.active > stats.writing ? stats.active - stats.writing : 0;
  return stats;
}

std::string metrics_exposition(proxy::Gateway& gateway) {
  const auto snapshot = gateway.snapshot();
  const auto& registry = gateway.shared_memory().metrics;
  const auto switches = switches_of(snapshot->config);
  auto local = node_gauges(gateway, snapshot->node_id);
  if (switches.upstream_health) local.push_back(target_health(gateway));
  if (switches.enabled) {
    // Kong's exporter always shows its error counter once the plugin is configured.
    local.push_back(std::make_unique<Values>("kong_nginx_metric_errors_total",
                                             "Number of nginx-lua-prometheus errors", Type::counter,
                                             std::vector<std::string>{}));
    local.back()->set(metrics::LabelValues{}, static_cast<double>(registry.error_count()));
  }
  std::vector<const metrics::Family*> kong, own;
  for (const auto& family : local) kong.push_back(family.get());
  const auto servers = plugin_server_gauges(gateway);
  for (const auto& family : servers) own.push_back(family.get());
  const auto queues = log_queue_metrics(gateway.shared_memory().log_sinks);
  for (const auto& family : queues) own.push_back(family.get());
  for (const auto* family : registry.families()) {
    if (!family->name().starts_with("kong_"))
      own.push_back(family);
    else if (switches.enabled)
      kong.push_back(family);
  }
  std::string out;
  metrics::render(out, std::move(kong));
  metrics::render(out, std::move(own));
  return out;
}

}  // namespace gh::admin
