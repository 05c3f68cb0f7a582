// Which plugin a PDK call is made for, and in which phase (written by the phase runner; the PDK
// table reads it for kong.plugin.get_id, kong.log's "[name]" prefix, phase checks, ...).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/phase.h"

namespace gh::pdk {

struct PluginCall {
  // Views of the plugin entity's (which outlives every call): no copy per plugin call.
  std::string_view name;  // plugin name, e.g. "js-hello"
  std::string_view id;    // plugin entity UUID (kong.plugin.get_id)
  core::Phase phase = core::Phase::access;
  const nlohmann::json* config = nullptr;  // the plugin entity's config (defaults filled), may be null
};

}  // namespace gh::pdk
