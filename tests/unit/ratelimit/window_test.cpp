#include "ratelimit/window.h"

#include <gtest/gtest.h>

#include "ratelimit/decision.h"
#include "ratelimit/local_store.h"

using namespace gh::ratelimit;

namespace {
// 2026-12-06T16:45:30.250Z
constexpr int64_t kNow = 1796575530250;

using HeaderList = std::vector<std::pair<std::string_view, std::string>>;

// What decide() makes the client see: (whether refused, the headers).
std::pair<bool, HeaderList> decide_headers(const std::vector<Limit>& limits, std::vector<int64_t> usage,
                                           bool hide_client_headers = false) {
  const Decision decision = decide(limits, usage, kNow, hide_client_headers);
  HeaderList headers;
  write_headers(decision, limits, [&](std::string_view name, std::string_view value) {
    headers.emplace_back(name, std::string(value));
  });
  return {decision.exceeded, headers};
}
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
  auto [exceeded, headers] = decide_headers({{Period::second, 5}, {Period::minute, 10}}, {2, 2});
  EXPECT_FALSE(exceeded);
  HeaderList expected{{"X-RateLimit-Limit-Second", "5"},
                      {"X-RateLimit-Remaining-Second", "2"},
                      {"X-RateLimit-Limit-Minute", "10"},
                      {"X-RateLimit-Remaining-Minute", "7"},
                      {"RateLimit-Limit", "5"},
                      {"RateLimit-Remaining", "2"},
                      {"RateLimit-Reset", "1"}};
  EXPECT_EQ(headers, expected);
}

TEST(Decision, RefusesAtTheLimitWithRetryAfter) {
  auto [exceeded, headers] = decide_headers({{Period::second, 5}, {Period::minute, 10}}, {3, 10});
  EXPECT_TRUE(exceeded);
  // Only the exceeded period counts this request; the reset is the minute's.
  HeaderList expected{{"X-RateLimit-Limit-Second", "5"},  {"X-RateLimit-Remaining-Second", "2"},
                      {"X-RateLimit-Limit-Minute", "10"}, {"X-RateLimit-Remaining-Minute", "0"},
                      {"RateLimit-Limit", "10"},          {"RateLimit-Remaining", "0"},
                      {"RateLimit-Reset", "30"},          {"Retry-After", "30"}};
  EXPECT_EQ(headers, expected);
}

TEST(Decision, TiesPreferTheLongerWindowAndHidingDropsHeaders) {
  auto [exceeded, headers] = decide_headers({{Period::minute, 3}, {Period::hour, 3}}, {1, 1});
  ASSERT_EQ(headers.size(), 7u);
  EXPECT_EQ(headers[4], (std::pair<std::string_view, std::string>{"RateLimit-Limit", "3"}));
  EXPECT_EQ(headers[6].second, std::to_string(reset_seconds(kNow, Period::hour)));
  auto [hidden_exceeded, hidden_headers] = decide_headers({{Period::minute, 1}}, {1}, true);
  EXPECT_TRUE(hidden_exceeded);
  EXPECT_TRUE(hidden_headers.empty());
  EXPECT_EQ(lua_number(2.5), "2.5");
  EXPECT_EQ(lua_number(1e15), "1e+15");
  EXPECT_EQ(lua_number(-1.2345678901234e+300), "-1.2345678901234e+300");
  // A fractional limit's remaining count, as Kong prints it.
  auto [fraction_exceeded, fraction_headers] = decide_headers({{Period::second, 2.5}}, {0});
  EXPECT_FALSE(fraction_exceeded);
  EXPECT_EQ(fraction_headers[1],
            (std::pair<std::string_view, std::string>{"X-RateLimit-Remaining-Second", "1.5"}));
}

namespace {
Windows windows_of(std::string_view identifier, int64_t now_ms, std::initializer_list<Period> periods) {
  Windows windows(identifier, now_ms);
  for (Period period : periods) windows.add(period);
  return windows;
}

std::vector<int64_t> counts_of(LocalStore& store, uint32_t scope, const Windows& windows) {
  std::vector<int64_t> counts(windows.size);
  store.get(scope, windows, counts);
  return counts;
}
}  // namespace

TEST(LocalStore, CountsEachPeriodsCurrentWindow) {
  LocalStore store;
  const uint32_t scope = store.scope("route", "service");
  const auto at_start = windows_of("a", kNow, {Period::second, Period::minute});
  EXPECT_EQ(counts_of(store, scope, at_start), (std::vector<int64_t>{0, 0}));
  store.increment(scope, at_start, 1);
  store.increment(scope, at_start, 1);
  EXPECT_EQ(counts_of(store, scope, at_start), (std::vector<int64_t>{2, 2}));
  // The next second is a new window of `second` only; asked in another order, the same counters.
  EXPECT_EQ(counts_of(store, scope, windows_of("a", kNow + 750, {Period::minute, Period::second})),
            (std::vector<int64_t>{2, 0}));
  // The next minute (16:46:00) starts both again.
  EXPECT_EQ(counts_of(store, scope, windows_of("a", kNow + 29750, {Period::second, Period::minute})),
            (std::vector<int64_t>{0, 0}));
  // Another identity, another scope: their own counters.
  EXPECT_EQ(counts_of(store, scope, windows_of("b", kNow, {Period::minute})), (std::vector<int64_t>{0}));
  EXPECT_EQ(counts_of(store, store.scope("route", "other"), at_start), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(store.scope("route", "service"), scope);  // a reload's plugin finds its counters again
}

TEST(LocalStore, AWindowLivesItsPeriodsLengthFromItsFirstCount) {
  // Kong's shm counter of a month lives 30 days from its first increment: counted on
  // 2026-12-01T00:00Z, it is gone on 12-31T00:00Z, still inside December's window.
  LocalStore store;
  const uint32_t scope = store.scope("", "");
  constexpr int64_t kDecember = 1796083200000;
  store.increment(scope, windows_of("a", kDecember, {Period::month}), 1);
  EXPECT_EQ(counts_of(store, scope, windows_of("a", kDecember + 2591999000, {Period::month})),
            (std::vector<int64_t>{1}));
  EXPECT_EQ(counts_of(store, scope, windows_of("a", kDecember + 2592000000, {Period::month})),
            (std::vector<int64_t>{0}));
  // Counted again there, it starts from one with a new lifetime.
  store.increment(scope, windows_of("a", kDecember + 2592000000, {Period::month}), 1);
  EXPECT_EQ(counts_of(store, scope, windows_of("a", kDecember + 2592001000, {Period::month})),
            (std::vector<int64_t>{1}));
}

TEST(LocalStore, StaysBounded) {
  LocalStore store(LocalStore::kShards * 4);  // four identities per shard
  const uint32_t scope = store.scope("", "");
  for (int i = 0; i < 10000; ++i)
    store.increment(scope, windows_of("k" + std::to_string(i), 2000, {Period::minute}), 1);
  EXPECT_LE(store.size(), LocalStore::kShards * 4);
  // Expired entries go on the next sweep.
  for (int i = 0; i < 100; ++i)
    store.increment(scope, windows_of("n" + std::to_string(i), 100000, {Period::second}), 1);
  EXPECT_LE(store.size(), LocalStore::kShards * 4);
  // The identities counted last are still there.
  EXPECT_EQ(counts_of(store, scope, windows_of("n99", 100000, {Period::second})), (std::vector<int64_t>{1}));
}
