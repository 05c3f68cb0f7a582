// Which plugin a PDK call is made for (written by core: the phase runner fills it in; the PDK
// table reads it for kong.plugin.get_id, kong.log's "[name]" prefix, phase checks, ...).
// RequestPdk's constructor is expected to be: RequestPdk(proxy::RequestContext&, const PluginCall&).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace gh::pdk {

struct PluginCall {
  std::string name;       // plugin name, e.g. "js-hello"
  std::string id;         // plugin entity UUID (kong.plugin.get_id)
  std::string phase;      // "rewrite" | "access" | "response" | "log" | "certificate" | "preread"
  const nlohmann::json* config = nullptr;  // the plugin entity's config (defaults filled), may be null
};

}  // namespace gh::pdk
