// A target's address as written in kong.yml ("host:port", "[v6]:port" or "host").
#pragma once

#include <cstdint>
#include <string>

namespace gh::upstream {

struct TargetAddress {
  std::string host;
  uint16_t port = 8000;
};

// "host:port", "[v6]:port" or "host" (port 8000, Kong's default for targets).
TargetAddress parse_target(const std::string& target);

}  // namespace gh::upstream
