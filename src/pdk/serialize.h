// kong.log.serialize(): Kong's log structure for one request (what logging plugins ship).
#pragma once

#include <nlohmann/json.hpp>

#include "core/request_context.h"

namespace gh::pdk {

// {request, upstream_uri, response, latencies, tries, client_ip, started_at, route, service,
// consumer, authenticated_entity, source, upstream_status} with Kong's field names, credentials
// headers redacted, and the plugins' kong.log.set_serialize_value overrides applied.
nlohmann::json serialize_log(const core::RequestContext& ctx);

// Kong's latencies in milliseconds (-1: that part did not happen): request (the whole request),
// proxy (upstream until its first byte), receive (first byte to the end), kong (the rest).
struct Latencies {
  int64_t request = -1, proxy = -1, receive = 0, kong = -1;
};
Latencies request_latencies(const core::RequestContext& ctx);

}  // namespace gh::pdk
