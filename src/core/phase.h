// The request phases plugins run in (Kong's external-plugin phases, kong-gateway-side.md §8):
// the one enum every layer uses, its bit for phase masks, and its names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::core {

// In Kong's execution order for one connection: certificate (TLS handshake), then rewrite,
// access, response, log (HTTP) or preread, log (stream).
enum class Phase : uint8_t { certificate, rewrite, access, response, preread, log };
inline constexpr unsigned kPhaseCount = 6;

using PhaseMask = uint8_t;

constexpr PhaseMask bit(Phase p) {
  return static_cast<PhaseMask>(1u << static_cast<unsigned>(p));
}

constexpr std::string_view phase_name(Phase p) {
  constexpr std::string_view names[kPhaseCount] = {"certificate", "rewrite", "access",
                                                   "response",    "preread", "log"};
  return names[static_cast<unsigned>(p)];
}

constexpr std::optional<Phase> parse_phase(std::string_view name) {
  for (unsigned i = 0; i < kPhaseCount; ++i)
    if (phase_name(static_cast<Phase>(i)) == name) return static_cast<Phase>(i);
  return std::nullopt;
}

// The bit of a phase name; 0 for names that are not phases.
constexpr PhaseMask mask_of(std::string_view name) {
  auto p = parse_phase(name);
  return p ? bit(*p) : PhaseMask{0};
}

// "rewrite, access" for a mask, in execution order.
inline std::string phase_names(PhaseMask mask) {
  std::string out;
  for (unsigned i = 0; i < kPhaseCount; ++i) {
    if (!(mask & bit(static_cast<Phase>(i)))) continue;
    if (!out.empty()) out += ", ";
    out += phase_name(static_cast<Phase>(i));
  }
  return out;
}

inline constexpr PhaseMask kAnyPhase = (1u << kPhaseCount) - 1;

}  // namespace gh::core
