// Target selection for services whose host names an Upstream entity: smooth weighted
// round-robin (nginx's algorithm: even spread, weights respected over any window). One
// Balancer per worker; state is per upstream and rebuilt when the configuration changes.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/entities.h"

namespace gh::proxy {

struct TargetAddress {
  std::string host;
  uint16_t port = 8000;
};

// "host:port", "[v6]:port" or "host" (port 8000, Kong's default for targets).
TargetAddress parse_target(const std::string& target);

class Balancer {
 public:
  // The next target of `upstream`; `skip` lists targets that already failed for this request.
  // Returns false when no target with weight > 0 is left.
  bool pick(const conf::Upstream& upstream, uint64_t generation, const std::vector<std::string>& skip,
            conf::Target const*& out);

 private:
  struct Ring {
    uint64_t generation = 0;
    std::vector<int> current;  // smooth WRR running weights, one per target
  };
  std::unordered_map<std::string, Ring> rings_;  // by upstream id
};

}  // namespace gh::proxy
