#include "traffic/ip_matcher.h"

#include <gtest/gtest.h>

using gh::traffic::IpMatcher;

TEST(IpMatcher, ValidatesLikeKong) {
  EXPECT_FALSE(IpMatcher::validate("1.2.3.4"));
  EXPECT_FALSE(IpMatcher::validate("192.168.129.23/17"));
  EXPECT_FALSE(IpMatcher::validate("::1"));
  EXPECT_FALSE(IpMatcher::validate("2001:db8::/32"));
  EXPECT_FALSE(IpMatcher::validate("0.0.0.0/0"));
  EXPECT_EQ(IpMatcher::validate("1.2.3.4.4"), "invalid ip or cidr range: '1.2.3.4.4'");
  EXPECT_TRUE(IpMatcher::validate("192.168.129.23/40"));
  EXPECT_TRUE(IpMatcher::validate("asd"));
  EXPECT_TRUE(IpMatcher::validate("1.2.3.4/"));
  EXPECT_TRUE(IpMatcher::validate("1.2.3.4/-1"));
  EXPECT_TRUE(IpMatcher::validate("::1/129"));
  EXPECT_TRUE(IpMatcher::validate(""));
}

TEST(IpMatcher, MatchesIpv4Blocks) {
  IpMatcher m({"10.0.0.0/8", "192.168.129.23/17", "203.0.113.7"});
  EXPECT_TRUE(m.contains("10.255.1.2"));
  EXPECT_TRUE(m.contains("192.168.128.0"));
  EXPECT_TRUE(m.contains("192.168.255.255"));
  EXPECT_FALSE(m.contains("192.168.127.255"));
  EXPECT_TRUE(m.contains("203.0.113.7"));
  EXPECT_FALSE(m.contains("203.0.113.8"));
  EXPECT_FALSE(m.contains("11.0.0.0"));
  EXPECT_FALSE(m.contains("not an ip"));
  EXPECT_FALSE(m.contains("2001:db8::1"));
}

TEST(IpMatcher, MatchesIpv6AndMappedIpv4) {
  IpMatcher m({"2001:db8::/32", "::1", "127.0.0.1"});
  EXPECT_TRUE(m.contains("2001:db8:ffff::1"));
  EXPECT_FALSE(m.contains("2001:db9::1"));
  EXPECT_TRUE(m.contains("::1"));
  EXPECT_FALSE(m.contains("::2"));
  EXPECT_TRUE(m.contains("::ffff:127.0.0.1"));  // a dual-stack socket's IPv4 client
  IpMatcher all({"::/0", "0.0.0.0/0"});
  EXPECT_TRUE(all.contains("1.1.1.1"));
  EXPECT_TRUE(all.contains("fe80::1"));
}

TEST(IpMatcher, OverlappingAndAdjacentRangesMerge) {
  IpMatcher m({"10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "255.255.255.255"});
  EXPECT_TRUE(m.contains("10.0.0.200"));
  EXPECT_TRUE(m.contains("10.0.1.255"));
  EXPECT_FALSE(m.contains("10.0.2.0"));
  EXPECT_TRUE(m.contains("255.255.255.255"));
}

TEST(IpMatcher, TenThousandEntriesEachFoundAndNothingBetween) {
  // A large allow list (the matcher keeps sorted ranges and searches them; how fast is not a test
  // matter): every entry is found, the address next to each is not.
  std::vector<std::string> list;
  for (int i = 0; i < 10000; ++i)
    list.push_back("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1");
  for (int i = 0; i < 100; ++i) list.push_back("2001:db8:" + std::to_string(i) + "::/48");
  IpMatcher m(list);
  EXPECT_TRUE(m.contains("10.39.15.1"));
  EXPECT_FALSE(m.contains("10.39.15.2"));
  EXPECT_TRUE(m.contains("2001:db8:99::5"));
  EXPECT_FALSE(m.contains("2001:db8:100::5"));
  int found = 0, neighbours = 0;
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint32_t entry = 0x0a000001u + (i << 8);  // 10.(i / 256).(i % 256).1
    found += m.contains(gh::traffic::ParsedIp{entry, {}});
    neighbours +=
        m.contains(gh::traffic::ParsedIp{entry + 1, {}}) + m.contains(gh::traffic::ParsedIp{entry - 1, {}});
  }
  EXPECT_EQ(found, 10000);
  EXPECT_EQ(neighbours, 0);
}
