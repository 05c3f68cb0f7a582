#include "ratelimit/window.h"

#include <gtest/gtest.h>

#include "ratelimit/decision.h"
#include "ratelimit/local_store.h"

using namespace gh::ratelimit;

namespace {
// 2026-12-06T16:45:30.250Z
constexpr int64_t kNow = 1796575530250;
}  // namespace

TEST(Window, PeriodStartsAreUtcCalendarBoundaries) {
  EXPECT_EQ(period_start_ms(kNow, Period::second), 1796575530000);
  EXPECT_EQ(period_start_ms(kNow, Period::minute), 1796575500000);  // 16:45:00
  EXPECT_EQ(period_start_ms(kNow, Period::hour), 1796572800000);    // 16:00:00
  EXPECT_EQ(period_start_ms(kNow, Period::day), 1796515200000);     // 2026-12-06T00:00Z
  EXPECT_EQ(period_start_ms(kNow, Period::month), 1796083200000);   // 2026-12-01T00:00Z
  EXPECT_EQ(period_start_ms(kNow, Period::year), 1767225600000);    // 2026-01-01T00:00Z
  // A leap day and the first instant of a year.
  EXPECT_EQ(period_start_ms(951782400000 + 5000, Period::month), 949363200000);  // 2000-02-29 → 02-01
  EXPECT_EQ(period_start_ms(946684800000, Period::year), 946684800000);          // 2000-01-01
}

TEST(Window, ResetCountsThePeriodLengthFromItsStart) {
  EXPECT_EQ(reset_seconds(kNow, Period::second), 1);
  EXPECT_EQ(reset_seconds(kNow, Period::minute), 30);
  EXPECT_EQ(reset_seconds(kNow, Period::hour), 3600 - 45 * 60 - 30);
  // A month is 30 days from its first day (Kong's EXPIRATION), so late in a 31-day month the
  // reset stays at its floor of 1.
  EXPECT_EQ(reset_seconds(1798761599000, Period::month), 1);  // 2026-12-31T23:59:59Z
  EXPECT_EQ(period_seconds(Period::month), 2592000);
  EXPECT_EQ(period_seconds(Period::year), 31536000);
}

TEST(Window, CounterKeysFollowKong) {
  EXPECT_EQ(counter_key("", "", "127.0.0.1", 1796575500000, Period::minute),
            "ratelimit:00000000-0000-0000-0000-000000000000:00000000-0000-0000-0000-000000000000:127.0.0.1:"
            "1796575500000:minute");
  EXPECT_EQ(counter_key("r", "s", "id", 5, Period::year), "ratelimit:r:s:id:5:year");
  EXPECT_EQ(period_from_name("day"), Period::day);
  EXPECT_FALSE(period_from_name("week"));
}

TEST(Decision, HeadersCountThisRequest) {
  auto d = decide({{Period::second, 5}, {Period::minute, 10}}, {2, 2}, kNow, false);
  EXPECT_FALSE(d.exceeded);
  std::vector<std::pair<std::string_view, std::string>> expected{{"X-RateLimit-Limit-Second", "5"},
                                                                 {"X-RateLimit-Remaining-Second", "2"},
                                                                 {"X-RateLimit-Limit-Minute", "10"},
                                                                 {"X-RateLimit-Remaining-Minute", "7"},
                                                                 {"RateLimit-Limit", "5"},
                                                                 {"RateLimit-Remaining", "2"},
                                                                 {"RateLimit-Reset", "1"}};
  EXPECT_EQ(d.headers, expected);
}

TEST(Decision, RefusesAtTheLimitWithRetryAfter) {
  auto d = decide({{Period::second, 5}, {Period::minute, 10}}, {3, 10}, kNow, false);
  EXPECT_TRUE(d.exceeded);
  // Only the exceeded period counts this request; the reset is the minute's.
  std::vector<std::pair<std::string_view, std::string>> expected{
      {"X-RateLimit-Limit-Second", "5"},  {"X-RateLimit-Remaining-Second", "2"},
      {"X-RateLimit-Limit-Minute", "10"}, {"X-RateLimit-Remaining-Minute", "0"},
      {"RateLimit-Limit", "10"},          {"RateLimit-Remaining", "0"},
      {"RateLimit-Reset", "30"},          {"Retry-After", "30"}};
  EXPECT_EQ(d.headers, expected);
}

TEST(Decision, TiesPreferTheLongerWindowAndHidingDropsHeaders) {
  auto d = decide({{Period::minute, 3}, {Period::hour, 3}}, {1, 1}, kNow, false);
  EXPECT_EQ(d.headers[4], (std::pair<std::string_view, std::string>{"RateLimit-Limit", "3"}));
  EXPECT_EQ(d.headers[6].second, std::to_string(reset_seconds(kNow, Period::hour)));
  auto hidden = decide({{Period::minute, 1}}, {1}, kNow, true);
  EXPECT_TRUE(hidden.exceeded);
  EXPECT_TRUE(hidden.headers.empty());
  EXPECT_EQ(lua_number(2.5), "2.5");
  EXPECT_EQ(lua_number(1e15), "1e+15");
}

TEST(LocalStore, CountsExpiresAndStaysBounded) {
  LocalStore store(LocalStore::kShards * 4);  // four entries per shard
  EXPECT_EQ(store.get("a", 0), 0);
  EXPECT_EQ(store.increment("a", 1, 1, 0), 1);
  EXPECT_EQ(store.increment("a", 1, 1, 500), 2);
  EXPECT_EQ(store.get("a", 999), 2);
  EXPECT_EQ(store.get("a", 1000), 0);  // the window's lifetime is over
  for (int i = 0; i < 10000; ++i) store.increment("k" + std::to_string(i), 1, 60, 2000);
  EXPECT_LE(store.size(), LocalStore::kShards * 4);
  // Expired windows go on the next sweep.
  for (int i = 0; i < 100; ++i) store.increment("n" + std::to_string(i), 1, 1, 100000);
  EXPECT_LE(store.size(), LocalStore::kShards * 4);
}
