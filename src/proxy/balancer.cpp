#include "proxy/balancer.h"

#include <algorithm>
#include <charconv>

namespace gh::proxy {

TargetAddress parse_target(const std::string& target) {
  TargetAddress out;
  std::string_view t = target;
  std::string_view port;
  if (!t.empty() && t.front() == '[') {
    auto close = t.find(']');
    out.host = std::string(t.substr(1, close - 1));
    if (close != std::string_view::npos && close + 1 < t.size() && t[close + 1] == ':')
      port = t.substr(close + 2);
  } else if (auto colon = t.rfind(':'); colon != std::string_view::npos && t.find(':') == colon) {
    out.host = std::string(t.substr(0, colon));
    port = t.substr(colon + 1);
  } else {
    out.host = std::string(t);
  }
  if (!port.empty()) std::from_chars(port.data(), port.data() + port.size(), out.port);
  return out;
}

bool Balancer::pick(const conf::Upstream& upstream, uint64_t generation, const std::vector<std::string>& skip,
                    conf::Target const*& out) {
  auto& ring = rings_[upstream.id];
  if (ring.generation != generation || ring.current.size() != upstream.targets.size()) {
    ring.generation = generation;
    ring.current.assign(upstream.targets.size(), 0);
  }
  int total = 0;
  int best = -1;
  for (size_t i = 0; i < upstream.targets.size(); ++i) {
    const auto& target = upstream.targets[i];
    if (target.weight <= 0) continue;
    if (std::find(skip.begin(), skip.end(), target.target) != skip.end()) continue;
    ring.current[i] += target.weight;
    total += target.weight;
    if (best < 0 || ring.current[i] > ring.current[best]) best = static_cast<int>(i);
  }
  if (best < 0) return false;
  ring.current[best] -= total;
  out = &upstream.targets[best];
  return true;
}

}  // namespace gh::proxy
