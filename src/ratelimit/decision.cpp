#include "ratelimit/decision.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace gh::ratelimit {

std::string lua_number(double value) {
  char text[32];
  // Whole numbers (nearly always) without printf's floating-point path (nine per request).
  if (std::abs(value) < 1e15) {
    const auto whole = static_cast<int64_t>(value);
    if (static_cast<double>(whole) == value)
      return std::string(text, std::to_chars(text, text + sizeof text, whole).ptr);
  }
  std::snprintf(text, sizeof text, "%.14g", value);
  return text;
}

namespace {

std::string_view limit_header(Period period) {
  static constexpr std::array<std::string_view, 6> names{
      "X-RateLimit-Limit-Second", "X-RateLimit-Limit-Minute", "X-RateLimit-Limit-Hour",
      "X-RateLimit-Limit-Day",    "X-RateLimit-Limit-Month",  "X-RateLimit-Limit-Year"};
  return names[static_cast<size_t>(period)];
}

std::string_view remaining_header(Period period) {
  static constexpr std::array<std::string_view, 6> names{
      "X-RateLimit-Remaining-Second", "X-RateLimit-Remaining-Minute", "X-RateLimit-Remaining-Hour",
      "X-RateLimit-Remaining-Day",    "X-RateLimit-Remaining-Month",  "X-RateLimit-Remaining-Year"};
  return names[static_cast<size_t>(period)];
}

}  // namespace

Decision decide(const std::vector<Limit>& limits, const std::vector<int64_t>& usage, int64_t now_ms,
                bool hide_client_headers) {
  Decision decision;
  std::optional<Period> stop;
  for (size_t i = 0; i < limits.size(); ++i)
    if (!stop && limits[i].limit - static_cast<double>(usage[i]) <= 0) stop = limits[i].period;
  decision.exceeded = stop.has_value();
  if (hide_client_headers) return decision;

  decision.headers.reserve(limits.size() * 2 + 4);
  const Limit* chosen = nullptr;
  double chosen_remaining = 0;
  for (size_t i = 0; i < limits.size(); ++i) {
    const Limit& limit = limits[i];
    double remaining = limit.limit - static_cast<double>(usage[i]);
    if (!stop || *stop == limit.period) remaining -= 1;
    remaining = std::max(0.0, remaining);
    if (!chosen || remaining < chosen_remaining ||
        (remaining == chosen_remaining && period_seconds(limit.period) > period_seconds(chosen->period))) {
      chosen = &limit;
      chosen_remaining = remaining;
    }
    decision.headers.emplace_back(limit_header(limit.period), lua_number(limit.limit));
    decision.headers.emplace_back(remaining_header(limit.period), lua_number(remaining));
  }
  if (!chosen) return decision;
  const std::string reset = std::to_string(reset_seconds(now_ms, chosen->period));
  decision.headers.emplace_back("RateLimit-Limit", lua_number(chosen->limit));
  decision.headers.emplace_back("RateLimit-Remaining", lua_number(chosen_remaining));
  decision.headers.emplace_back("RateLimit-Reset", reset);
  if (decision.exceeded) decision.headers.emplace_back("Retry-After", reset);
  return decision;
}

}  // namespace gh::ratelimit
