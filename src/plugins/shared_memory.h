// What the native plugins share across workers and keep across reloads: what Kong keeps in its
// lua_shared_dicts (nginx's shared memory zones outlive a reload), and the log plugins' queues
// with the thread that ships them. Owned by whoever owns the whole line of snapshots
// (proxy::Gateway; a one-off build such as `gatehouse config check` brings its own), handed to
// each snapshot's native plugins when they are made and to the admin routes and /metrics that
// read it. Declared before the snapshots: their plugins point into it. Thread-safe.
#pragma once

#include "cache/dictionaries.h"
#include "logsink/loop.h"
#include "metrics/metrics.h"
#include "ratelimit/local_store.h"

namespace gh::plugins {

struct SharedMemory {
  // proxy-cache's stores: kong_db_cache, kong_core_db_cache and nginx_http_lua_shared_dict's
  // (configured from each snapshot's properties: load_plugins).
  cache::Dictionaries dictionaries;
  // rate-limiting's `local` policy counters (Kong's kong_rate_limiting_counters).
  ratelimit::LocalStore rate_limit_counters;
  // http-log, tcp-log, udp-log and file-log's queues, their delivery thread and the reopen
  // generation file-log follows (Kong's queues live in each worker; here one thread serves all).
  logsink::LogSinks log_sinks;
  // The families /metrics shows beside the node's gauges: the prometheus plugin's kong_* (Kong's
  // prometheus_metrics shared dict) and gatehouse's own (external plugins' events, PDK calls).
  metrics::Registry metrics;
};

}  // namespace gh::plugins
