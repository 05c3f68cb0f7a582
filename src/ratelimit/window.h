// Kong's rate-limiting windows (kong/plugins/rate-limiting: expiration.lua and
// kong.tools.timestamp.get_timestamps): six fixed calendar periods in UTC, each counter keyed by
// the start of its period and kept for the period's length. Pure arithmetic, no clock inside.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::ratelimit {

enum class Period { second, minute, hour, day, month, year };
inline constexpr std::array<Period, 6> kPeriods{Period::second, Period::minute, Period::hour,
                                                Period::day,    Period::month,  Period::year};

std::string_view period_name(Period period);  // "second", ..., "year"
std::optional<Period> period_from_name(std::string_view name);
// Kong's EXPIRATION: 1, 60, 3600, 86400, 2592000 (30 days), 31536000 (365 days) seconds.
int64_t period_seconds(Period period);

// The start (milliseconds since the epoch, UTC) of the period holding `now_ms`: the second,
// minute, hour, day, first day of the month, or 1 January. Kong's get_timestamps[period].
int64_t period_start_ms(int64_t now_ms, Period period);

// Kong's RateLimit-Reset: seconds until the window ends, counted from the period start with
// the period's length (so a month is 30 days from its first day), at least 1.
int64_t reset_seconds(int64_t now_ms, Period period);

// Kong's counter key: ratelimit:<route_id>:<service_id>:<identifier>:<period start ms>:<period>,
// both ids 00000000-0000-0000-0000-000000000000 when the plugin is not scoped to one.
std::string counter_key(std::string_view route_id, std::string_view service_id, std::string_view identifier,
                        int64_t period_start, Period period);
// The same in two steps, for keys built per request: "ratelimit:<route_id>:<service_id>:" once,
// then the rest appended to a copy of it.
std::string counter_key_prefix(std::string_view route_id, std::string_view service_id);
void append_counter_key_rest(std::string& key, std::string_view identifier, int64_t period_start,
                             Period period);

// What one request counts against: the current window of each configured period, all of one
// identity (Kong's identifier: a consumer or credential id, an ip, a header value, ...).
struct Windows {
  std::string_view identifier;
  int64_t now_ms = 0;
  size_t size = 0;
  std::array<Period, kPeriods.size()> periods{};
  std::array<int64_t, kPeriods.size()> starts_ms{};  // period_start_ms(now_ms, periods[i])

  Windows(std::string_view id, int64_t now) : identifier(id), now_ms(now) {}
  void add(Period period) {
    if (size == periods.size()) return;  // each period once: the schema allows no more
    periods[size] = period;
    starts_ms[size] = period_start_ms(now_ms, period);
    ++size;
  }
};

}  // namespace gh::ratelimit
