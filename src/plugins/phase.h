// Kong's external-plugin phases (kong-gateway-side.md §8).
#pragma once

#include <optional>
#include <string_view>

namespace gh::plugins {

enum class Phase : unsigned { certificate, rewrite, access, response, preread, log };

constexpr std::string_view phase_name(Phase p) {
  constexpr std::string_view names[] = {"certificate", "rewrite", "access", "response", "preread", "log"};
  return names[static_cast<unsigned>(p)];
}

constexpr std::optional<Phase> parse_phase(std::string_view name) {
  for (unsigned i = 0; i <= static_cast<unsigned>(Phase::log); ++i)
    if (phase_name(static_cast<Phase>(i)) == name) return static_cast<Phase>(i);
  return std::nullopt;
}

constexpr unsigned phase_bit(Phase p) {
  return 1u << static_cast<unsigned>(p);
}

}  // namespace gh::plugins
