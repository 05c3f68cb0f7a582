// kong.log.serialize(): Kong's log structure for one request (what logging plugins ship).
#pragma once

#include <nlohmann/json.hpp>

#include "core/request_context.h"

namespace gh::pdk {

// {request, upstream_uri, response, latencies, tries, client_ip, started_at, route, service,
// consumer, authenticated_entity, source, upstream_status} with Kong's field names, credentials
// headers redacted, and the plugins' kong.log.set_serialize_value overrides applied.
nlohmann::json serialize_log(const core::RequestContext& ctx);

}  // namespace gh::pdk
