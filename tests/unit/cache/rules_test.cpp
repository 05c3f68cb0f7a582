// The caching rules: Cache-Control directives, resource TTL, HTTP dates, content types.
#include "cache/rules.h"

#include <gtest/gtest.h>

namespace gh::cache {
namespace {

TEST(Directives, NamesLowerCasedNumbersAndFlags) {
  auto cc = parse_directives({"Public, MAX-AGE=60", "no-cache, private=\"x\""});
  ASSERT_TRUE(cc.count("public"));
  EXPECT_FALSE(cc["public"].number);
  EXPECT_EQ(cc["max-age"].number, 60);
  EXPECT_TRUE(cc.count("no-cache"));
  EXPECT_EQ(cc["private"].text, "\"x\"");
}

TEST(Directives, ANonNumericAgeIsNoAge) {
  auto cc = parse_directives({"max-age=abc"});
  EXPECT_FALSE(cc["max-age"].number);
  EXPECT_EQ(resource_ttl(cc, std::nullopt, 1000), 0);
}

TEST(ResourceTtl, SMaxAgeThenMaxAgeThenExpires) {
  const int64_t now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(resource_ttl(parse_directives({"max-age=10, s-maxage=20"}), std::nullopt, now), 20);
  EXPECT_EQ(resource_ttl(parse_directives({"max-age=10"}), std::nullopt, now), 10);
  EXPECT_EQ(resource_ttl(parse_directives({}), "Sun, 06 Nov 1994 08:50:37 GMT", now), 60);
  EXPECT_EQ(resource_ttl(parse_directives({}), "Sun, 06 Nov 1994 08:48:37 GMT", now), 0);
  EXPECT_EQ(resource_ttl(parse_directives({"max-age=0"}), "Sun, 06 Nov 1994 08:50:37 GMT", now), 0);
  EXPECT_EQ(resource_ttl(parse_directives({}), "garbage", now), 0);
}

TEST(HttpDate, ThreeFormats) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing"));
  EXPECT_FALSE(parse_http_date(""));
}

std::vector<MediaType> accepted(std::initializer_list<const char*> texts) {
  std::vector<MediaType> out;
  for (auto t : texts)
    if (auto m = parse_media_type(t)) out.push_back(*m);
  return out;
}

TEST(ContentType, ExactTypesAndParameters) {
  const auto plain = accepted({"text/plain", "application/json"});
  EXPECT_TRUE(content_type_matches("application/json", plain));
  EXPECT_FALSE(content_type_matches("application/json; charset=utf-8", plain));
  EXPECT_FALSE(content_type_matches("application/xml", plain));
  const auto with_charset = accepted({"text/html; charset=utf-8"});
  EXPECT_TRUE(content_type_matches("text/html;charset=utf-8", with_charset));
  EXPECT_FALSE(content_type_matches("text/html; charset=UTF-8", with_charset));
}

TEST(ContentType, Wildcards) {
  EXPECT_TRUE(content_type_matches("application/xml", accepted({"*/*"})));
  EXPECT_TRUE(content_type_matches("application/xml", accepted({"*"})));
  EXPECT_TRUE(content_type_matches("text/csv", accepted({"text/*"})));
  EXPECT_FALSE(content_type_matches("application/csv", accepted({"text/*"})));
}

TEST(ContentType, InvalidTypesNeverMatch) {
  EXPECT_TRUE(accepted({"application/xml;"}).empty());
  EXPECT_FALSE(content_type_matches("application/xml;", accepted({"*/*"})));
  EXPECT_FALSE(content_type_matches("text/plain ", accepted({"text/plain"})));
  EXPECT_FALSE(content_type_matches("", accepted({"*/*"})));
}

}  // namespace
}  // namespace gh::cache
