// Kong's proxy-cache Admin API routes (kong/plugins/proxy-cache/api.lua), over the stores of the
// proxy-cache plugins of the running configuration:
//   DELETE /proxy-cache                                  every entry of every proxy-cache plugin: 204
//   GET|DELETE /proxy-cache/{cache_key}                  the entry in any proxy-cache plugin: 200/204, 404
//   GET|DELETE /proxy-cache/{plugin_id}/caches/{cache_key}   the entry of that plugin: 200/204, 404
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "admin/api.h"
#include "cache/dictionaries.h"
#include "core/snapshot.h"

namespace gh::admin {

// The answer for a /proxy-cache path; nullopt for any other path. `dictionaries`: the gateway's,
// where the snapshot's proxy-cache plugins keep their entries.
std::optional<ApiResponse> proxy_cache_routes(const core::Snapshot& snapshot,
                                              const cache::Dictionaries& dictionaries,
                                              const ApiRequest& request,
                                              const std::vector<std::string_view>& parts);

}  // namespace gh::admin
