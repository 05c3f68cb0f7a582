// HeaderNameFilter must never answer "no" for a name it was given (in any case): HeaderOverlay
// then skips asking its base, and a wrong "no" would duplicate a header instead of replacing it.
#include "http/header_name_filter.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace {

using gh::http::HeaderNameFilter;

std::string random_name(std::mt19937& random) {
  static constexpr std::string_view kChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~";
  std::string name(1 + random() % 30, 'x');
  for (char& c : name) c = kChars[random() % kChars.size()];
  return name;
}

std::string flip_case(std::string name, std::mt19937& random) {
  for (char& c : name) {
    if (random() % 2 == 0) continue;
    if (c >= 'a' && c <= 'z')
      c = static_cast<char>(c - 'a' + 'A');
    else if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return name;
}

TEST(HeaderNameFilter, EmptyHasNothingEverythingHasAll) {
  const HeaderNameFilter none;
  EXPECT_FALSE(none.might_have("Host"));
  EXPECT_FALSE(none.might_have(""));
  EXPECT_TRUE(HeaderNameFilter::everything().might_have("X-Consumer-ID"));
  EXPECT_TRUE(HeaderNameFilter::everything().might_have(""));
}

TEST(HeaderNameFilter, NeverLosesANameInAnyCase) {
  std::mt19937 random(20261207);
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> names(random() % 20);
    for (auto& name : names) name = random_name(random);
    HeaderNameFilter filter;
    for (const auto& name : names) filter.add(name);
    for (const auto& name : names) {
      ASSERT_TRUE(filter.might_have(name)) << name;
      ASSERT_TRUE(filter.might_have(flip_case(name, random))) << name;
    }
    HeaderNameFilter merged;
    merged.add(filter);
    for (const auto& name : names) ASSERT_TRUE(merged.might_have(name)) << name;
  }
}

// The names plugins set (auth plugins' X-Consumer-*) against what a typical request's forwarded
// list has: a filter that answered "maybe" for these would not save anything.
TEST(HeaderNameFilter, TellsApartTheCommonNames) {
  HeaderNameFilter forwarded;
  for (std::string_view name :
       {"Host", "Accept-Encoding", "apikey", "Origin", "User-Agent", "Accept", "X-Real-IP", "X-Forwarded-For",
        "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Path", "X-Forwarded-Prefix",
        "Via", "X-Kong-Request-Id"})
    forwarded.add(name);
  int maybe = 0;
  for (std::string_view name : {"X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username",
                                "X-Credential-Identifier", "X-Anonymous-Consumer", "Kong-Request-ID"})
    maybe += forwarded.might_have(name) ? 1 : 0;
  EXPECT_LE(maybe, 2);
}

}  // namespace
