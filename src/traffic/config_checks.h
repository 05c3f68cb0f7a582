// What the traffic plugins share when they describe and check their configurations.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace gh::traffic {

// A native plugin refuses a configuration by throwing: every problem, joined.
inline void refuse_if_any(const std::vector<std::string>& errors) {
  if (errors.empty()) return;
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
  throw std::invalid_argument(all);
}

// Kong's strings_array schema field: a required list of strings, empty by default.
inline nlohmann::json required_string_array() {
  return {{"type", "array"},
          {"default", nlohmann::json::array()},
          {"required", true},
          {"elements", {{"type", "string"}}}};
}

}  // namespace gh::traffic
