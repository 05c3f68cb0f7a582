#include "ratelimit/window.h"

#include <charconv>
#include <ctime>

namespace gh::ratelimit {

namespace {

constexpr std::string_view kEmptyUuid = "00000000-0000-0000-0000-000000000000";

// Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

std::string_view period_name(Period period) {
  static constexpr std::array<std::string_view, 6> names{"second", "minute", "hour", "day", "month", "year"};
  return names[static_cast<size_t>(period)];
}

std::optional<Period> period_from_name(std::string_view name) {
  for (auto p : kPeriods)
    if (period_name(p) == name) return p;
  return std::nullopt;
}

int64_t period_seconds(Period period) {
  static constexpr std::array<int64_t, 6> seconds{1, 60, 3600, 86400, 2592000, 31536000};
  return seconds[static_cast<size_t>(period)];
}

int64_t period_start_ms(int64_t now_ms, Period period) {
  const int64_t now_s = floor_div(now_ms, 1000);
  switch (period) {
    case Period::second:
      return now_s * 1000;
    case Period::minute:
      return floor_div(now_s, 60) * 60000;
    case Period::hour:
      return floor_div(now_s, 3600) * 3600000;
    case Period::day:
      return floor_div(now_s, 86400) * 86400000;
    case Period::month:
    case Period::year: {
      const auto t = static_cast<std::time_t>(now_s);
      std::tm utc{};
      gmtime_r(&t, &utc);
      const unsigned month = period == Period::month ? static_cast<unsigned>(utc.tm_mon + 1) : 1;
      return days_from_civil(utc.tm_year + 1900, month, 1) * 86400000;
    }
  }
  return now_s * 1000;
}

int64_t reset_seconds(int64_t now_ms, Period period) {
  const int64_t elapsed = floor_div(now_ms - period_start_ms(now_ms, period), 1000);
  const int64_t reset = period_seconds(period) - elapsed;
  return reset < 1 ? 1 : reset;
}

std::string counter_key_prefix(std::string_view route_id, std::string_view service_id) {
  const std::string_view route = route_id.empty() ? kEmptyUuid : route_id;
  const std::string_view service = service_id.empty() ? kEmptyUuid : service_id;
  std::string prefix = "ratelimit:";
  prefix.append(route).append(1, ':').append(service).append(1, ':');
  return prefix;
}

void append_counter_key_rest(std::string& key, std::string_view identifier, int64_t period_start,
                             Period period) {
  char start[24];
  const auto start_end = std::to_chars(start, start + sizeof start, period_start).ptr;
  key.append(identifier).append(1, ':').append(start, start_end).append(1, ':').append(period_name(period));
}

std::string counter_key(std::string_view route_id, std::string_view service_id, std::string_view identifier,
                        int64_t period_start, Period period) {
  std::string key = counter_key_prefix(route_id, service_id);
  append_counter_key_rest(key, identifier, period_start, period);
  return key;
}

}  // namespace gh::ratelimit
