#include "router/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "conf/declarative.h"

namespace gh::router {
namespace {

// Routes come from real kong.yml text through the real loader, as in production.
conf::Declarative config(const std::string& yaml_body) {
  return conf::parse_declarative("_format_version: \"3.0\"\n" + yaml_body, "router-test.yml");
}

struct Request {
  std::string method = "GET";
  std::string host = "example.com";
  std::string path = "/";
  std::string scheme = "http";
  std::string sni{};
  std::map<std::string, std::vector<std::string>> headers{};
  uint16_t port = 0;

  RouteRequest view() const {
    RouteRequest r{method, host, path, scheme, sni, {}, port};
    r.header_values = [this](std::string_view name) {
      std::vector<std::string_view> out;
      if (auto it = headers.find(std::string(name)); it != headers.end())
        for (const auto& v : it->second) out.push_back(v);
      return out;
    };
    return r;
  }
};

std::string matched_name(const Router& router, const Request& req) {
  auto m = router.match(req.view());
  return m ? m->route->name : "(none)";
}

TEST(Router, NoMatchIsNulloptWithKongsBody) {
  auto c = config("routes:\n  - {name: a, paths: [/a]}\n");
  Router router(c);
  EXPECT_FALSE(router.match(Request{.path = "/b"}.view()).has_value());
  EXPECT_EQ(kNoRouteBody, R"({"message":"no Route matched with those values"})");
}

TEST(Router, PrefixPathsMatchAsPlainPrefixesAndTheLongestWins) {
  auto c = config(R"Y(
routes:
  - {name: root, paths: [/]}
  - {name: api, paths: [/api]}
  - {name: api-v1, paths: [/api/v1]}
)Y");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.path = "/api/v1/users"}), "api-v1");
  EXPECT_EQ(matched_name(router, {.path = "/api/v2"}), "api");
  EXPECT_EQ(matched_name(router, {.path = "/apix"}), "api") << "Kong prefixes are not segment-aware";
  EXPECT_EQ(matched_name(router, {.path = "/other"}), "root");
}

TEST(Router, MoreMatchingCriteriaWinOverLongerPaths) {
  auto c = config(R"Y(
routes:
  - {name: long-path, paths: [/a/very/long/path]}
  - {name: host-and-path, hosts: [example.com], paths: [/a]}
  - {name: method-host-path, methods: [POST], hosts: [example.com], paths: [/]}
)Y");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.path = "/a/very/long/path"}), "host-and-path");
  EXPECT_EQ(matched_name(router, {.method = "POST", .path = "/a/very/long/path"}), "method-host-path");
  EXPECT_EQ(matched_name(router, {.host = "other.com", .path = "/a/very/long/path"}), "long-path");
}

TEST(Router, PlainHostsBeatWildcardsThenHeaderCountDecides) {
  auto c = config(R"Y(
routes:
  - {name: wildcard, hosts: ["*.example.com"], paths: [/api/long]}
  - {name: plain, hosts: [api.example.com], paths: [/]}
  - {name: one-header, headers: {x-a: ["1"]}, paths: [/h]}
  - {name: two-headers, headers: {x-a: ["1"], x-b: ["2"]}, paths: [/]}
)Y");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.host = "api.example.com", .path = "/api/long"}), "plain");
  EXPECT_EQ(matched_name(router, {.host = "web.example.com", .path = "/api/long"}), "wildcard");
  Request both{.path = "/h", .headers = {{"x-a", {"1"}}, {"x-b", {"2"}}}};
  EXPECT_EQ(matched_name(router, both), "two-headers");
  Request one{.path = "/h", .headers = {{"x-a", {"1"}}}};
  EXPECT_EQ(matched_name(router, one), "one-header");
}

TEST(Router, RegexPathsBeforePrefixesInRegexPriorityOrderThenFileOrder) {
  auto c = config(R"Y(
routes:
  - {name: prefix, paths: [/users/123]}
  - {name: regex-low, paths: ["~/users/\\d+"]}
  - {name: regex-high, paths: ["~/users/\\d+$"], regex_priority: 10}
  - {name: regex-low-later, paths: ["~/users/[0-9]+"]}
)Y");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.path = "/users/123"}), "regex-high");
  EXPECT_EQ(matched_name(router, {.path = "/users/123/x"}), "regex-low")
      << "equal regex_priority: file order";
  EXPECT_EQ(matched_name(router, {.path = "/users/abc"}), "(none)");
}

TEST(Router, RegexIsAnchoredAtThePathStart) {
  auto c = config("routes:\n  - {name: r, paths: [\"~/x/\\\\d+\"]}\n");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.path = "/x/1"}), "r");
  EXPECT_EQ(matched_name(router, {.path = "/pre/x/1"}), "(none)");
}

TEST(Router, EachPathOfARouteCarriesItsOwnPriority) {
  auto c = config(R"Y(
routes:
  - {name: mixed, paths: [/s, /short/but/longer/than/other]}
  - {name: other, paths: [/short/but]}
)Y");
  Router router(c);
  EXPECT_EQ(router.candidate_count(), 3u);
  auto m = router.match(Request{.path = "/short/but/longer/than/other/x"}.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->name, "mixed");
  EXPECT_EQ(m->matched_path, "/short/but/longer/than/other");
  EXPECT_EQ(matched_name(router, {.path = "/short/but/x"}), "other");
}

TEST(Router, RegexCapturesNamedAndUnnamed) {
  auto c = config(R"Y(
routes:
  - {name: r, strip_path: false, paths: ["~/orders/(?<order>\\d+)/items/(\\w+)"]}
)Y");
  Router router(c);
  auto m = router.match(Request{.path = "/orders/42/items/abc/rest"}.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->captures_unnamed, (std::vector<std::string>{"/orders/42/items/abc", "42", "abc"}));
  EXPECT_EQ(m->captures_named, (std::map<std::string, std::string>{{"order", "42"}}));
  EXPECT_EQ(m->matched_path, "/orders/42/items/abc");
  EXPECT_EQ(m->upstream_path, "/orders/42/items/abc/rest");
}

TEST(Router, WildcardAndPortHosts) {
  auto c = config(R"Y(
routes:
  - {name: suffix, hosts: ["*.example.com"]}
  - {name: prefix, hosts: ["example.*"]}
  - {name: with-port, hosts: ["ports.test:8080"]}
  - {name: v6, hosts: ["[::1]", "[fe80::1]:81"]}
)Y");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.host = "a.example.com"}), "suffix");
  EXPECT_EQ(matched_name(router, {.host = "a.b.Example.COM"}), "suffix");
  EXPECT_EQ(matched_name(router, {.host = "example.com"}), "prefix");
  EXPECT_EQ(matched_name(router, {.host = "example.org:9000"}), "prefix")
      << "port-less rules ignore the port";
  EXPECT_EQ(matched_name(router, {.host = "other.org"}), "(none)");
  EXPECT_EQ(matched_name(router, {.host = "ports.test:8080"}), "with-port");
  EXPECT_EQ(matched_name(router, {.host = "ports.test:8081"}), "(none)");
  EXPECT_EQ(matched_name(router, {.host = "ports.test", .port = 8080}), "with-port") << "local port";
  EXPECT_EQ(matched_name(router, {.host = "[::1]:8000"}), "v6");
  EXPECT_EQ(matched_name(router, {.host = "[fe80::1]:81"}), "v6");
  EXPECT_EQ(matched_name(router, {.host = "[fe80::1]:82"}), "(none)");
  auto m = router.match(Request{.host = "api.example.com"}.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->matched_host, "*.example.com");
}

TEST(Router, MethodsAreExact) {
  auto c = config("routes:\n  - {name: m, methods: [GET, PUT]}\n");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.method = "PUT"}), "m");
  EXPECT_EQ(matched_name(router, {.method = "POST"}), "(none)");
  EXPECT_EQ(matched_name(router, {.method = "get"}), "(none)");
}

TEST(Router, HeaderValuesCaseInsensitiveAnyValueAndRegex) {
  auto c = config(R"Y(
routes:
  - name: h
    headers:
      x-version: ["V1", "v2"]
      x-client: ["~*^mobile-(ios|android)$"]
)Y");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.headers = {{"x-version", {"v1"}}, {"x-client", {"Mobile-IOS"}}}}), "h");
  EXPECT_EQ(
      matched_name(router, {.headers = {{"x-version", {"v3", "V2"}}, {"x-client", {"mobile-android"}}}}),
      "h");
  EXPECT_EQ(matched_name(router, {.headers = {{"x-version", {"v1"}}, {"x-client", {"desktop"}}}}), "(none)");
  EXPECT_EQ(matched_name(router, {.headers = {{"x-version", {"v1"}}}}), "(none)");
  RouteRequest no_lookup{"GET", "example.com", "/", "http", "", {}, 0};
  EXPECT_FALSE(router.match(no_lookup).has_value());
}

TEST(Router, SnisApplyToHttpsOnly) {
  auto c = config(R"Y(
routes:
  - {name: sni, protocols: [https], snis: [secure.test], paths: [/s]}
  - {name: any, paths: [/]}
)Y");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.path = "/s", .scheme = "https", .sni = "secure.test"}), "sni");
  EXPECT_EQ(matched_name(router, {.path = "/s", .scheme = "https", .sni = "other.test"}), "any");
  EXPECT_EQ(matched_name(router, {.path = "/s", .scheme = "http"}), "sni")
      << "Kong ignores snis for plain http";
}

TEST(Router, StreamRoutesAndDisabledServicesAreNotRouted) {
  auto c = config(R"Y(
services:
  - name: off
    url: http://x
    enabled: false
    routes:
      - {name: dead, paths: [/dead]}
routes:
  - {name: tcp, protocols: [tcp], destinations: [{port: 5000}]}
  - {name: live, paths: [/]}
)Y");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.path = "/dead"}), "live");
}

// Kong's documented path_handling table (Admin API, Route object), service path "/s".
struct PathCase {
  const char* service_path;
  const char* route_path;
  bool strip_path;
  const char* handling;
  const char* request;
  const char* expected;
};

void PrintTo(const PathCase& c, std::ostream* os) {
  *os << c.service_path << " + " << c.route_path << " strip=" << c.strip_path << " " << c.handling << " "
      << c.request << " -> " << c.expected;
}

class UpstreamPath : public ::testing::TestWithParam<PathCase> {};

TEST_P(UpstreamPath, FollowsKong) {
  const auto& p = GetParam();
  std::string yaml = "services:\n  - name: s\n    url: http://up" + std::string(p.service_path) +
                     "\n    routes:\n      - name: r\n        paths: [\"" + p.route_path +
                     "\"]\n        strip_path: " + (p.strip_path ? "true" : "false") +
                     "\n        path_handling: " + p.handling + "\n";
  auto c = config(yaml);
  Router router(c);
  auto m = router.match(Request{.path = p.request}.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->upstream_path, p.expected);
}

INSTANTIATE_TEST_SUITE_P(KongDocsTable, UpstreamPath,
                         ::testing::Values(PathCase{"/s", "/fv0", false, "v0", "/fv0req", "/s/fv0req"},
                                           PathCase{"/s", "/fv1", false, "v1", "/fv1req", "/sfv1req"},
                                           PathCase{"/s", "/tv0", true, "v0", "/tv0req", "/s/req"},
                                           PathCase{"/s", "/tv1", true, "v1", "/tv1req", "/sreq"},
                                           PathCase{"/s", "/fv0/", false, "v0", "/fv0/req", "/s/fv0/req"},
                                           PathCase{"/s", "/fv1/", false, "v1", "/fv1/req", "/sfv1/req"},
                                           PathCase{"/s", "/tv0/", true, "v0", "/tv0/req", "/s/req"},
                                           PathCase{"/s", "/tv1/", true, "v1", "/tv1/req", "/sreq"}));

// Edge cases of Kong's v0 algorithm (kong/router/utils.lua): trailing slashes and empty remainders.
INSTANTIATE_TEST_SUITE_P(KongV0Slashes, UpstreamPath,
                         ::testing::Values(PathCase{"", "/foo", true, "v0", "/foo/bar", "/bar"},
                                           PathCase{"", "/foo", true, "v0", "/foo", "/"},
                                           PathCase{"/", "/foo", false, "v0", "/foo/bar", "/foo/bar"},
                                           PathCase{"/srv", "/foo", true, "v0", "/foo/", "/srv/"},
                                           PathCase{"/srv", "/foo", true, "v0", "/foo", "/srv"},
                                           PathCase{"/srv/", "/foo", true, "v0", "/foo", "/srv"},
                                           PathCase{"/srv/", "/foo", true, "v0", "/foo/", "/srv/"},
                                           PathCase{"/srv/", "/foo", true, "v0", "/foo/x", "/srv/x"},
                                           PathCase{"/srv/", "/foo", true, "v0", "/foox", "/srv/x"},
                                           PathCase{"/srv/", "/foo", false, "v0", "/foo/x", "/srv/foo/x"},
                                           PathCase{"/srv", "/", false, "v0", "/", "/srv"},
                                           PathCase{"/srv/", "/foo/", true, "v1", "/foo/x", "/srv/x"},
                                           PathCase{"/", "~/version/\\\\d+/service", true, "v0",
                                                    "/version/1/service/path/to/resource",
                                                    "/path/to/resource"}));

TEST(Router, RouteWithoutPathsKeepsTheWholeRequestPath) {
  auto c = config(
      "services:\n  - name: s\n    url: http://up/base\n    routes:\n      - {name: r, hosts: [h.test]}\n");
  Router router(c);
  auto m = router.match(Request{.host = "h.test", .path = "/a/b"}.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->upstream_path, "/base/a/b");
  EXPECT_EQ(m->matched_path, "");
  EXPECT_EQ(m->service->name, "s");
}

TEST(Router, RouteWithoutServiceMatchesWithNullService) {
  auto c = config("routes:\n  - {name: r, paths: [/x]}\n");
  Router router(c);
  auto m = router.match(Request{.path = "/x/y"}.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->service, nullptr);
  EXPECT_EQ(m->upstream_path, "/y");
}

TEST(Router, PathsAreNormalizedBeforeMatching) {
  EXPECT_EQ(normalize_path("/a/./b/../c"), "/a/c");
  EXPECT_EQ(normalize_path("//a///b"), "/a/b");
  EXPECT_EQ(normalize_path("/%61%2Fb%2f"), "/a%2Fb%2F");
  EXPECT_EQ(normalize_path("/a/b/"), "/a/b/");
  EXPECT_EQ(normalize_path("/a/.."), "/");
  EXPECT_EQ(normalize_path("/../../etc"), "/etc");
  EXPECT_EQ(normalize_path("/a/%7euser"), "/a/~user");
  auto c = config("routes:\n  - {name: admin, paths: [/admin]}\n  - {name: public, paths: [/public]}\n");
  Router router(c);
  EXPECT_EQ(matched_name(router, {.path = "/public/../admin/x"}), "admin");
  EXPECT_EQ(matched_name(router, {.path = "/%61dmin"}), "admin");
  auto m = router.match(Request{.path = "/public//x/./y"}.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->upstream_path, "/x/y");
}

TEST(Router, EveryRequestIsIndependent) {
  // The router is shared by worker threads: concurrent matches must not interfere.
  auto c = config(R"Y(
routes:
  - {name: a, paths: ["~/a/(?<n>\\d+)"]}
  - {name: b, paths: ["~/b/(?<n>[a-z]+)"]}
)Y");
  Router router(c);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        bool use_a = (i + t) % 2 == 0;
        Request req{.path = use_a ? "/a/" + std::to_string(i) : "/b/xyz"};
        auto m = router.match(req.view());
        if (!m || m->captures_named["n"] != (use_a ? std::to_string(i) : "xyz")) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace gh::router
