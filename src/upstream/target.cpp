#include "upstream/target.h"

#include <charconv>
#include <string_view>

namespace gh::upstream {

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

}  // namespace gh::upstream
