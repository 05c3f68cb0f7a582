// What Kong's rate-limiting access handler decides from the usage of each configured period:
// whether the request is over a limit, and the headers the client sees (X-RateLimit-Limit-<P>,
// X-RateLimit-Remaining-<P>, RateLimit-Limit/-Remaining/-Reset, Retry-After on refusal).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ratelimit/window.h"

namespace gh::ratelimit {

struct Limit {
  Period period;
  double limit;  // Kong's schema: a number > 0 (fractions allowed)
};

struct Decision {
  bool exceeded = false;
  // In period order, then RateLimit-*; the names are static strings.
  std::vector<std::pair<std::string_view, std::string>> headers;
};

// `usage[i]` is the counter of `limits[i]`'s current window. Kong's rules: a period is exceeded
// when limit - usage <= 0; this request counts against every period (remaining - 1) unless one is
// exceeded, then only against that one; RateLimit-* describe the period with the fewest remaining
// (on a tie, the longer window); Retry-After = RateLimit-Reset on refusal; no headers at all with
// hide_client_headers.
Decision decide(const std::vector<Limit>& limits, const std::vector<int64_t>& usage, int64_t now_ms,
                bool hide_client_headers);

// A Lua number as tostring prints it (%.14g): 5 → "5", 1.5 → "1.5".
std::string lua_number(double value);

}  // namespace gh::ratelimit
