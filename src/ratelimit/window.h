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

}  // namespace gh::ratelimit
