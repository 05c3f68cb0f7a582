// The balancing algorithms and the health counters, on UpstreamStates built from kong.yml text.
#include "upstream/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "conf/declarative.h"
#include "conf/error.h"

namespace gh::upstream {
namespace {

conf::Upstream parse_upstream(const std::string& body) {
  auto config =
      conf::parse_declarative("_format_version: \"3.0\"\nupstreams:\n- name: u\n" + body, "kong.yml");
  return config.upstreams.at(0);
}

std::string targets_yaml(int n, int first_port = 9000) {
  std::string out = "  targets:\n";
  for (int i = 0; i < n; ++i)
    out += "  - target: 10.0.0." + std::to_string(i + 1) + ":" + std::to_string(first_port) + "\n";
  return out;
}

TEST(Xxhash32, MatchesTheReferenceVectors) {
  EXPECT_EQ(xxhash32(""), 0x02CC5D05u);
  EXPECT_EQ(xxhash32("abc"), 0x32D153FFu);
  EXPECT_EQ(xxhash32("Nobody inspects the spammish repetition"), 0xE2293B2Fu);
}

TEST(RoundRobin, FollowsWeightsAndSkipsWeightZero) {
  UpstreamState state(
      parse_upstream("  targets:\n  - target: a:1\n    weight: 300\n  - target: b:1\n    weight: 100\n"
                     "  - target: c:1\n    weight: 0\n"),
      nullptr);
  std::vector<int> current(3, 0);
  std::vector<bool> tried(3, false);
  std::map<int, int> picks;
  for (int i = 0; i < 400; ++i) picks[pick_round_robin(state, current, tried)]++;
  EXPECT_EQ(picks[0], 300);
  EXPECT_EQ(picks[1], 100);
  EXPECT_EQ(picks.count(2), 0u);
}

TEST(ConsistentHashing, KeepsAKeyOnOneTargetAndMovesAboutOneNthWhenATargetIsAdded) {
  const std::string head = "  algorithm: consistent-hashing\n  hash_on: header\n  hash_on_header: x-key\n";
  UpstreamState four(parse_upstream(head + targets_yaml(4)), nullptr);
  UpstreamState five(parse_upstream(head + targets_yaml(5)), nullptr);
  std::vector<bool> none4(4, false), none5(5, false);
  const int keys = 10000;
  int moved = 0;
  std::map<int, int> spread;
  for (int k = 0; k < keys; ++k) {
    const uint32_t h = xxhash32("user-" + std::to_string(k));
    const int before = pick_consistent(four, h, none4);
    ASSERT_EQ(before, pick_consistent(four, h, none4));  // stable
    const int after = pick_consistent(five, h, none5);
    spread[before]++;
    if (after != before) {
      ++moved;
      EXPECT_EQ(after, 4) << "a key may only move to the new target";
    }
  }
  // Ideal: 1/5 of the keys move. Kong's ring (160 points per target) stays within a few percent.
  EXPECT_GT(moved, keys * 15 / 100);
  EXPECT_LT(moved, keys * 25 / 100);
  for (const auto& [target, count] : spread) EXPECT_GT(count, keys / 4 / 2) << "target " << target;
}

TEST(ConsistentHashing, AnUnavailableTargetsKeysGoToTheNextPointOnly) {
  const std::string head = "  algorithm: consistent-hashing\n  hash_on: ip\n";
  UpstreamState state(parse_upstream(head + targets_yaml(3)), nullptr);
  std::vector<bool> none(3, false), skip0 = {true, false, false};
  for (int k = 0; k < 1000; ++k) {
    const uint32_t h = xxhash32(std::to_string(k));
    const int normal = pick_consistent(state, h, none);
    const int without0 = pick_consistent(state, h, skip0);
    EXPECT_NE(without0, 0);
    if (normal != 0) {
      EXPECT_EQ(without0, normal);
    }
  }
}

TEST(LeastConnections, PrefersTheTargetWithFewerInFlight) {
  UpstreamState state(parse_upstream("  algorithm: least-connections\n" + targets_yaml(2)), nullptr);
  std::vector<bool> none(2, false);
  state.target(0).connection_started();
  for (size_t rotation = 0; rotation < 4; ++rotation)
    EXPECT_EQ(pick_least_connections(state, rotation, none), 1);
  state.target(1).connection_started();
  std::set<int> both;
  for (size_t rotation = 0; rotation < 4; ++rotation)
    both.insert(pick_least_connections(state, rotation, none));
  EXPECT_EQ(both.size(), 2u) << "ties rotate";
}

TEST(Health, PassiveThresholdsTakeATargetOutAndActiveSuccessesBringItBack) {
  UpstreamState state(parse_upstream(R"(  healthchecks:
    active:
      healthy: {interval: 5, successes: 2}
      unhealthy: {interval: 5, tcp_failures: 1}
    passive:
      unhealthy: {http_failures: 3, timeouts: 2}
)" + targets_yaml(2)),
                      nullptr);
  state.report_status(0, CheckKind::passive, 500);
  state.report_status(0, CheckKind::passive, 503);
  EXPECT_TRUE(state.available(0));
  state.report_status(0, CheckKind::passive, 404);  // in neither list: not counted
  EXPECT_TRUE(state.available(0));
  state.report_status(0, CheckKind::passive, 429);
  EXPECT_FALSE(state.available(0));
  state.report(0, CheckKind::active, Result::success);
  EXPECT_FALSE(state.available(0));
  state.report(0, CheckKind::active, Result::success);
  EXPECT_TRUE(state.available(0));
  // Two timeouts in a row, but a success in between resets the count... only when successes count.
  state.report(1, CheckKind::passive, Result::timeout);
  state.report(1, CheckKind::passive, Result::timeout);
  EXPECT_FALSE(state.available(1));
  EXPECT_EQ(state.health_json()["data"][1]["health"], "UNHEALTHY");
}

TEST(Health, ThresholdTakesTheWholeUpstreamDown) {
  UpstreamState state(
      parse_upstream(
          "  healthchecks:\n    threshold: 60\n    passive:\n      unhealthy: {tcp_failures: 1}\n" +
          targets_yaml(2)),
      nullptr);
  EXPECT_TRUE(state.above_threshold());
  state.report(0, CheckKind::passive, Result::tcp_failure);
  EXPECT_FALSE(state.above_threshold());  // 50% healthy < 60%
}

TEST(Health, NoChecksMeansHealthchecksOff) {
  UpstreamState state(parse_upstream(targets_yaml(1)), nullptr);
  state.report(0, CheckKind::passive, Result::tcp_failure);
  EXPECT_TRUE(state.available(0));
  EXPECT_EQ(state.health_json()["data"][0]["health"], "HEALTHCHECKS_OFF");
}

TEST(Health, AReloadKeepsHealthWhenTheChecksDidNotChange) {
  const std::string checks = "  healthchecks:\n    passive:\n      unhealthy: {tcp_failures: 1}\n";
  UpstreamState before(parse_upstream(checks + targets_yaml(2)), nullptr);
  before.report(1, CheckKind::passive, Result::tcp_failure);
  UpstreamState same(parse_upstream(checks + targets_yaml(2)), &before);
  EXPECT_FALSE(same.available(1));
  UpstreamState changed(
      parse_upstream("  healthchecks:\n    passive:\n      unhealthy: {tcp_failures: 2}\n" + targets_yaml(2)),
      &before);
  EXPECT_TRUE(changed.available(1));
}

struct Inputs final : HashInputs {
  std::map<std::string, std::string> headers, cookies, args;
  std::optional<std::string> consumer_id() const override { return std::nullopt; }
  std::string client_ip() const override { return "192.0.2.1"; }
  static std::optional<std::string> get(const std::map<std::string, std::string>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::nullopt : std::optional(it->second);
  }
  std::optional<std::string> header(const std::string& n) const override { return get(headers, n); }
  std::optional<std::string> cookie(const std::string& n) const override { return get(cookies, n); }
  std::string path() const override { return "/p"; }
  std::optional<std::string> query_arg(const std::string& n) const override { return get(args, n); }
  std::optional<std::string> uri_capture(const std::string&) const override { return std::nullopt; }
};

TEST(HashKey, HashOnThenFallbackThenEmpty) {
  auto u = parse_upstream(
      "  algorithm: consistent-hashing\n  hash_on: header\n  hash_on_header: x-a\n  hash_fallback: "
      "query_arg\n"
      "  hash_fallback_query_arg: user\n" +
      targets_yaml(1));
  Inputs in;
  std::string cookie;
  EXPECT_EQ(hash_key(u, in, cookie), "");
  in.args["user"] = "bob";
  EXPECT_EQ(hash_key(u, in, cookie), "bob");
  in.headers["x-a"] = "alice";
  EXPECT_EQ(hash_key(u, in, cookie), "alice");
  EXPECT_TRUE(cookie.empty());
  auto by_cookie = parse_upstream(
      "  algorithm: consistent-hashing\n  hash_on: cookie\n  hash_on_cookie: sticky\n" + targets_yaml(1));
  hash_key(by_cookie, in, cookie);
  EXPECT_FALSE(cookie.empty()) << "a missing cookie is created";
}

TEST(UpstreamSchema, RefusesWhatKongRefuses) {
  auto refused = [](const std::string& body) {
    try {
      parse_upstream(body);
    } catch (const conf::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(refused("  hash_on: header\n"), "");    // needs hash_on_header
  EXPECT_NE(refused("  hash_fallback: ip\n"), "");  // hash_on none
  EXPECT_NE(refused("  hash_on: cookie\n  hash_on_cookie: c\n  hash_fallback: ip\n"), "");
  EXPECT_NE(refused("  hash_on: ip\n  hash_fallback: ip\n"), "");
  EXPECT_NE(refused("  slots: 5\n"), "");
  EXPECT_NE(refused("  healthchecks:\n    active:\n      type: ftp\n"), "");
  EXPECT_NE(refused("  healthchecks:\n    active:\n      http_path: status\n"), "");
  EXPECT_NE(refused("  healthchecks:\n    active:\n      healthy:\n        http_statuses: [42]\n"), "");
  EXPECT_NE(refused("  healthchecks:\n    passive:\n      healthy:\n        interval: 1\n"), "");
  EXPECT_NE(refused("  healthchecks:\n    threshold: 101\n"), "");
  EXPECT_EQ(
      refused("  hash_on: header\n  hash_on_header: a\n  hash_fallback: header\n  hash_fallback_header: b\n"),
      "");
  auto u =
      parse_upstream("  healthchecks:\n    active:\n      headers: {x-probe: [a, b]}\n      timeout: 0.5\n");
  EXPECT_EQ(u.healthchecks.active.timeout, 0.5);
  ASSERT_EQ(u.healthchecks.active.headers.size(), 1u);
  EXPECT_EQ(u.healthchecks.active.headers[0].second.size(), 2u);
  EXPECT_EQ(u.healthchecks.passive.unhealthy.http_statuses, (std::vector<int>{429, 500, 503}));
}

}  // namespace
}  // namespace gh::upstream
