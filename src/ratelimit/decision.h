// What Kong's rate-limiting access handler decides from the usage of each configured period:
// whether the request is over a limit, and the headers the client sees (X-RateLimit-Limit-<P>,
// X-RateLimit-Remaining-<P>, RateLimit-Limit/-Remaining/-Reset, Retry-After on refusal).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ratelimit/window.h"

namespace gh::ratelimit {

// A Lua number as tostring prints it (%.14g): 5 → "5", 1.5 → "1.5".
std::string lua_number(double value);

struct Limit {
  Limit(Period period_, double limit_) : period(period_), limit(limit_), text(lua_number(limit_)) {}
  Period period;
  double limit;      // Kong's schema: a number > 0 (fractions allowed)
  std::string text;  // lua_number(limit), the X-RateLimit-Limit-<P> value: formatted once, not per request
};

struct Decision {
  bool exceeded = false;
  bool show_headers = false;                        // not hide_client_headers
  size_t size = 0;                                  // the limits decided on
  std::array<double, kPeriods.size()> remaining{};  // per limit, this request counted, at least 0
  size_t chosen = 0;                                // the limit RateLimit-* describe
  int64_t reset_seconds = 0;                        // RateLimit-Reset (and Retry-After) of the chosen limit
};

// `usage[i]` is the counter of `limits[i]`'s current window. Kong's rules: a period is exceeded
// when limit - usage <= 0; this request counts against every period (remaining - 1) unless one is
// exceeded, then only against that one; RateLimit-* describe the period with the fewest remaining
// (on a tie, the longer window); Retry-After = RateLimit-Reset on refusal; no headers at all with
// hide_client_headers.
Decision decide(const std::vector<Limit>& limits, std::span<const int64_t> usage, int64_t now_ms,
                bool hide_client_headers);

// Room for a number's text: lua_number's or an integer's.
struct NumberText {
  std::array<char, 32> text;
  std::string_view lua(double value);
  std::string_view integer(int64_t value);
};

std::string_view limit_header(Period period);      // X-RateLimit-Limit-<Period>
std::string_view remaining_header(Period period);  // X-RateLimit-Remaining-<Period>

// Calls write(name, value) for each header the client sees, in Kong's order: per period its
// X-RateLimit-Limit-<P> and X-RateLimit-Remaining-<P>, then RateLimit-Limit, -Remaining, -Reset
// and, on refusal, Retry-After. `value` is valid during the call only. Nothing when hidden.
template <class Write>
void write_headers(const Decision& decision, const std::vector<Limit>& limits, Write&& write) {
  if (!decision.show_headers || decision.size == 0) return;
  NumberText number;
  for (size_t i = 0; i < decision.size; ++i) {
    write(limit_header(limits[i].period), std::string_view(limits[i].text));
    write(remaining_header(limits[i].period), number.lua(decision.remaining[i]));
  }
  write(std::string_view("RateLimit-Limit"), std::string_view(limits[decision.chosen].text));
  write(std::string_view("RateLimit-Remaining"), number.lua(decision.remaining[decision.chosen]));
  const std::string_view reset = number.integer(decision.reset_seconds);
  write(std::string_view("RateLimit-Reset"), reset);
  if (decision.exceeded) write(std::string_view("Retry-After"), reset);
}

}  // namespace gh::ratelimit
