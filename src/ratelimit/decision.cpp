#include "ratelimit/decision.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>

namespace gh::ratelimit {

std::string_view NumberText::integer(int64_t value) {
  return {text.data(), static_cast<size_t>(std::to_chars(text.data(), text.data() + text.size(), value).ptr -
                                           text.data())};
}

std::string_view NumberText::lua(double value) {
  // Whole numbers (nearly always) without printf's floating-point path.
  if (std::abs(value) < 1e15) {
    const auto whole = static_cast<int64_t>(value);
    if (static_cast<double>(whole) == value) return integer(whole);
  }
  const int n = std::snprintf(text.data(), text.size(), "%.14g", value);
  return {text.data(), static_cast<size_t>(std::clamp(n, 0, static_cast<int>(text.size()) - 1))};
}

std::string lua_number(double value) {
  NumberText number;
  return std::string(number.lua(value));
}

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

Decision decide(const std::vector<Limit>& limits, std::span<const int64_t> usage, int64_t now_ms,
                bool hide_client_headers) {
  Decision decision;
  decision.size = std::min({limits.size(), usage.size(), decision.remaining.size()});
  std::optional<Period> stop;
  for (size_t i = 0; i < decision.size; ++i)
    if (!stop && limits[i].limit - static_cast<double>(usage[i]) <= 0) stop = limits[i].period;
  decision.exceeded = stop.has_value();
  decision.show_headers = !hide_client_headers;
  if (hide_client_headers || decision.size == 0) return decision;

  for (size_t i = 0; i < decision.size; ++i) {
    const Limit& limit = limits[i];
    double remaining = limit.limit - static_cast<double>(usage[i]);
    if (!stop || *stop == limit.period) remaining -= 1;
    remaining = std::max(0.0, remaining);
    decision.remaining[i] = remaining;
    const double chosen_remaining = decision.remaining[decision.chosen];
    if (i == 0 || remaining < chosen_remaining ||
        (remaining == chosen_remaining &&
         period_seconds(limit.period) > period_seconds(limits[decision.chosen].period)))
      decision.chosen = i;
  }
  decision.reset_seconds = reset_seconds(now_ms, limits[decision.chosen].period);
  return decision;
}

}  // namespace gh::ratelimit
