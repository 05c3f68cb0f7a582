#include "traffic/cors_policy.h"

#include <gtest/gtest.h>

using namespace gh::traffic;
using json = nlohmann::json;

namespace {

json config(json overrides) {
  json c = {{"methods", {"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"}},
            {"credentials", false},
            {"private_network", false},
            {"preflight_continue", false},
            {"allow_origin_absent", true}};
  if (overrides.is_object()) c.update(overrides);
  return c;
}

std::optional<std::string> header(const HeaderEdits& edits, std::string_view name) {
  std::optional<std::string> value;
  for (const auto& e : edits)
    if (e.name == name) value = e.op == HeaderEdit::Op::clear ? std::nullopt : std::optional(e.value);
  return value;
}

}  // namespace

TEST(Cors, NormalizesOrigins) {
  EXPECT_EQ(normalize_origin("http://example.com:80").domain, "http://example.com");
  EXPECT_EQ(normalize_origin("https://example.com:443").domain, "https://example.com");
  EXPECT_EQ(normalize_origin("https://example.com:8443/path").domain, "https://example.com:8443");
  EXPECT_EQ(normalize_origin("https://example.com:8443").host, "example.com");
  EXPECT_EQ(normalize_origin("null").domain, "null");
  EXPECT_EQ(normalize_origin("example.com").domain, "example.com");
  EXPECT_EQ(normalize_origin("http://[::1]:8080").domain, "http://[::1]:8080");
}

TEST(Cors, ValidatesOrigins) {
  EXPECT_FALSE(CorsPolicy::validate_origin("*"));
  EXPECT_FALSE(CorsPolicy::validate_origin("http://example.com"));
  EXPECT_FALSE(CorsPolicy::validate_origin("(.*)\\.example\\.org"));
  EXPECT_EQ(CorsPolicy::validate_origin("[bad"), "'[bad' is not a valid regex");
}

TEST(Cors, NoOriginsAllowsAll) {
  CorsPolicy p(config(json::object()));
  auto edits = p.response_headers({"GET", "http://a.test", {}, {}, {}});
  EXPECT_EQ(header(edits, "Access-Control-Allow-Origin"), "*");
  EXPECT_FALSE(header(edits, "Vary"));
}

TEST(Cors, SingleLiteralOriginIsSentAsIs) {
  CorsPolicy p(config({{"origins", {"http://mockbin.com"}}}));
  auto edits = p.response_headers({"GET", "http://other.test", {}, {}, {}});
  EXPECT_EQ(header(edits, "Access-Control-Allow-Origin"), "http://mockbin.com");
  EXPECT_EQ(header(edits, "Vary"), "Origin");
}

TEST(Cors, ListAndRegexOrigins) {
  CorsPolicy p(
      config({{"origins", {"http://a.test", "(.*)\\.example\\.org", "https://[a-z]+\\.b\\.test:8443"}}}));
  EXPECT_EQ(
      header(p.response_headers({"GET", "http://a.test:80", {}, {}, {}}), "Access-Control-Allow-Origin"),
      "http://a.test");
  EXPECT_EQ(header(p.response_headers({"GET", "https://www.example.org", {}, {}, {}}),
                   "Access-Control-Allow-Origin"),
            "https://www.example.org");
  EXPECT_EQ(
      header(p.response_headers({"GET", "https://x.b.test:8443", {}, {}, {}}), "Access-Control-Allow-Origin"),
      "https://x.b.test:8443");
  // Anchored: a suffix is not enough.
  EXPECT_FALSE(header(p.response_headers({"GET", "https://www.example.org.evil.test", {}, {}, {}}),
                      "Access-Control-Allow-Origin"));
  EXPECT_FALSE(
      header(p.response_headers({"GET", "http://evil.test", {}, {}, {}}), "Access-Control-Allow-Origin"));
  EXPECT_FALSE(header(p.response_headers({"GET", std::nullopt, {}, {}, {}}), "Access-Control-Allow-Origin"));
}

TEST(Cors, StarAmongOriginsAllowsAll) {
  CorsPolicy p(config({{"origins", {"http://a.test", "*"}}}));
  EXPECT_EQ(header(p.response_headers({"GET", "http://b.test", {}, {}, {}}), "Access-Control-Allow-Origin"),
            "*");
}

TEST(Cors, CredentialsEchoTheOriginInsteadOfStar) {
  CorsPolicy p(config({{"credentials", true}}));
  auto edits = p.response_headers({"GET", "http://a.test", {}, {}, {}});
  EXPECT_EQ(header(edits, "Access-Control-Allow-Origin"), "http://a.test");
  EXPECT_EQ(header(edits, "Access-Control-Allow-Credentials"), "true");
}

TEST(Cors, PreflightAnswer) {
  CorsPolicy p(config({{"origins", {"http://a.test"}},
                       {"headers", {"X-One", "X-Two"}},
                       {"methods", {"GET", "POST"}},
                       {"max_age", 3600},
                       {"private_network", true},
                       {"exposed_headers", {"X-Exposed"}}}));
  CorsRequest req{"OPTIONS", "http://a.test", "POST", "X-Whatever", "true"};
  auto edits = p.preflight(req);
  ASSERT_TRUE(edits);
  EXPECT_EQ(header(*edits, "Access-Control-Allow-Origin"), "http://a.test");
  EXPECT_EQ(header(*edits, "Access-Control-Allow-Headers"), "X-One,X-Two");
  EXPECT_EQ(header(*edits, "Access-Control-Allow-Methods"), "GET,POST");
  EXPECT_EQ(header(*edits, "Access-Control-Max-Age"), "3600");
  EXPECT_EQ(header(*edits, "Access-Control-Allow-Private-Network"), "true");
  EXPECT_FALSE(header(*edits, "Access-Control-Expose-Headers"));
  EXPECT_TRUE(p.response_headers(req).empty());  // answered in access: header_filter adds nothing
  // Not a preflight: no Access-Control-Request-Method.
  EXPECT_FALSE(p.preflight({"OPTIONS", "http://a.test", std::nullopt, {}, {}}));
}

TEST(Cors, PreflightEchoesRequestedHeadersWithoutConfiguredOnes) {
  CorsPolicy p(config(json::object()));
  auto edits = p.preflight({"OPTIONS", "http://a.test", "PUT", "X-A, X-B", std::nullopt});
  ASSERT_TRUE(edits);
  EXPECT_EQ(header(*edits, "Access-Control-Allow-Headers"), "X-A, X-B");
  EXPECT_EQ(header(*edits, "Access-Control-Allow-Methods"),
            "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT");
  EXPECT_FALSE(header(*edits, "Access-Control-Max-Age"));
  EXPECT_FALSE(header(*edits, "Access-Control-Allow-Private-Network"));
}

TEST(Cors, PreflightContinueLetsItThrough) {
  CorsPolicy p(config({{"preflight_continue", true}}));
  CorsRequest req{"OPTIONS", "http://a.test", "PUT", {}, {}};
  EXPECT_FALSE(p.preflight(req));
  EXPECT_TRUE(p.response_headers(req).empty());
}

TEST(Cors, AllowOriginAbsentFalseSkipsRequestsWithoutOrigin) {
  CorsPolicy p(config({{"allow_origin_absent", false}}));
  EXPECT_TRUE(p.response_headers({"GET", std::nullopt, {}, {}, {}}).empty());
  CorsPolicy q(config(json::object()));
  EXPECT_EQ(header(q.response_headers({"GET", std::nullopt, {}, {}, {}}), "Access-Control-Allow-Origin"),
            "*");
}
