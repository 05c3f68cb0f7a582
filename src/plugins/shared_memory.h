// What Kong keeps in its lua_shared_dicts for the plugins: memory every worker shares and a
// reload keeps (nginx's shared memory zones outlive a reload). Owned by whoever owns the whole
// line of snapshots (proxy::Gateway; a one-off build such as `gatehouse config check` brings its
// own), handed to each snapshot's native plugins when they are made and to the admin routes
// that read it. Thread-safe.
#pragma once

#include "cache/dictionaries.h"
#include "ratelimit/local_store.h"

namespace gh::plugins {

struct SharedMemory {
  // proxy-cache's stores: kong_db_cache, kong_core_db_cache and nginx_http_lua_shared_dict's
  // (configured from each snapshot's properties: load_plugins).
  cache::Dictionaries dictionaries;
  // rate-limiting's `local` policy counters (Kong's kong_rate_limiting_counters).
  ratelimit::LocalStore rate_limit_counters;
};

}  // namespace gh::plugins
