// GET /metrics on the admin and the status listener: Kong's prometheus exposition
// (docs/plugins-bundled.md, "Prometheus"; docs/admin-api.md).
//
// As Kong's exporter: the node's gauges (kong_nginx_connections_total, kong_nginx_requests_total,
// kong_datastore_reachable, kong_node_info) always; the prometheus plugin's families
// (kong_http_requests_total, ..., kong_nginx_metric_errors_total) while a prometheus plugin is
// configured; kong_upstream_target_health while one of them has upstream_health_metrics. Then
// gatehouse's own families (gatehouse_*: external plugins' events, PDK calls, plugin servers),
// always.
#pragma once

#include <string>

#include "proxy/gateway.h"

namespace gh::admin {

// nginx's stub_status numbers, summed over the workers (reading is always 0: a request head is
// read whole before it counts as a request).
struct ConnectionStats {
  uint64_t active = 0, reading = 0, writing = 0, waiting = 0, accepted = 0, requests = 0;
};
ConnectionStats connection_stats(const proxy::Gateway& gateway);

std::string metrics_exposition(proxy::Gateway& gateway);

}  // namespace gh::admin
