#include "router/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <sstream>
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

// --- the index against the linear scan ----------------------------------------------------------
//
// Router::match only tries the candidates its host / prefix index yields; match_linear tries them
// all. Random configurations and requests drawn from small pools (so that routes overlap, tie and
// shadow each other) must get the very same answer from both.

struct RandomRouting {
  std::mt19937 rng;

  template <class T>
  const T& pick(const std::vector<T>& pool) {
    return pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)];
  }
  bool chance(int percent) { return std::uniform_int_distribution<int>(0, 99)(rng) < percent; }

  // A YAML flow list of 1..max distinct-or-not items from the pool ('…' quoted: no escapes).
  std::string list(const std::vector<std::string>& pool, int max) {
    int n = std::uniform_int_distribution<int>(1, max)(rng);
    std::string out = "[";
    for (int i = 0; i < n; ++i) out += (i ? ", '" : "'") + pick(pool) + "'";
    return out + "]";
  }

  std::string route(int i) {
    static const std::vector<std::string> hosts = {"a.test",     "b.test",   "a.test:8000", "A.Test",
                                                   "*.test",     "a.*",      "x.a.test",    "[::1]",
                                                   "[::1]:8000", "b.test:80"};
    static const std::vector<std::string> paths = {"/",   "/a",    "/a/",    "/a/b",      "/ab",
                                                   "/b",  "/A",    "/a%2Fb", "~/a/\\d+$", "~/(?<seg>[ab])/",
                                                   "~/b", "~/a.*b"};
    static const std::vector<std::string> methods = {"GET", "POST"};
    static const std::vector<std::string> snis = {"a.test", "*.test", "b.test"};
    std::ostringstream r;
    r << "      - {name: r" << i;
    bool any = false;
    if (chance(60)) r << ", hosts: " << list(hosts, 3), any = true;
    if (chance(70)) r << ", paths: " << list(paths, 3), any = true;
    if (chance(30)) r << ", methods: " << list(methods, 2), any = true;
    if (chance(20))
      r << ", headers: {x-v: " << (chance(50) ? "['1', '2']" : "['~*^v\\d']") << "}", any = true;
    if (chance(15)) r << ", snis: " << list(snis, 2) << ", protocols: [https]", any = true;
    if (!any) r << ", paths: ['/']";
    if (chance(30)) r << ", regex_priority: " << std::uniform_int_distribution<int>(-1, 2)(rng);
    if (chance(30)) r << ", strip_path: false";
    if (chance(30)) r << ", path_handling: v1";
    r << "}\n";
    return r.str();
  }

  std::string config_yaml() {
    std::string yaml = "services:\n";
    int route_count = std::uniform_int_distribution<int>(1, 40)(rng);
    for (int s = 0, i = 0; s < 2; ++s) {
      yaml += "  - name: s" + std::to_string(s) + "\n    url: http://up" + (s ? "/base/" : "") +
              "\n    routes:\n";
      for (int end = s ? route_count : route_count / 2; i < end; ++i) yaml += route(i);
      if (s == 0 && route_count / 2 == 0) yaml += "      - {name: first, paths: ['/zz']}\n";
    }
    return yaml;
  }

  Request request() {
    static const std::vector<std::string> methods = {"GET", "POST", "PUT"};
    static const std::vector<std::string> hosts = {"a.test",   "A.TEST",     "a.test:8000", "b.test:80",
                                                   "x.a.test", "[::1]:8000", "[::1]",       "c.other",
                                                   "a.test.",  "",           "a.other"};
    static const std::vector<std::string> pieces = {"/a",  "/b",   "/ab", "/1", "/",     "//",
                                                    "/..", "/%61", "/A",  "b",  "/a%2Fb"};
    static const std::vector<std::string> snis = {"a.test", "b.test", "", "a.test.", "x.other"};
    Request req;
    req.method = pick(methods);
    req.host = pick(hosts);
    req.path.clear();
    for (int n = std::uniform_int_distribution<int>(1, 4)(rng); n > 0; --n) req.path += pick(pieces);
    req.scheme = chance(50) ? "https" : "http";
    req.sni = pick(snis);
    if (chance(40)) req.headers["x-v"] = {chance(50) ? "1" : "V7"};
    req.port = chance(20) ? 8000 : 0;
    return req;
  }
};

void expect_same_match(const std::optional<RouteMatch>& indexed, const std::optional<RouteMatch>& linear,
                       const std::string& context) {
  ASSERT_EQ(indexed.has_value(), linear.has_value()) << context;
  if (!linear) return;
  EXPECT_EQ(indexed->route, linear->route)
      << context << "\nindexed: " << indexed->route->name << ", linear: " << linear->route->name;
  EXPECT_EQ(indexed->service, linear->service) << context;
  EXPECT_EQ(indexed->upstream_path, linear->upstream_path) << context;
  EXPECT_EQ(indexed->matched_path, linear->matched_path) << context;
  EXPECT_EQ(indexed->matched_host, linear->matched_host) << context;
  EXPECT_EQ(indexed->captures_unnamed, linear->captures_unnamed) << context;
  EXPECT_EQ(indexed->captures_named, linear->captures_named) << context;
}

TEST(RouterIndex, YieldsTheSameMatchAsTheLinearScanOnRandomConfigurations) {
  RandomRouting random{std::mt19937(20261207)};
  int matched = 0, unmatched = 0;
  for (int round = 0; round < 300; ++round) {
    std::string yaml = random.config_yaml();
    auto c = config(yaml);
    Router router(c);
    for (int i = 0; i < 200; ++i) {
      Request req = random.request();
      auto linear = router.match_linear(req.view());
      (linear ? matched : unmatched)++;
      std::string context = "config:\n" + yaml + "request: " + req.method + " " + req.host + " " + req.path +
                            " " + req.scheme + " sni=" + req.sni + " port=" + std::to_string(req.port);
      expect_same_match(router.match(req.view()), linear, context);
      if (HasFailure()) return;  // one counterexample is enough to read
    }
  }
  // The pools must produce both outcomes often, or the comparison proves little.
  EXPECT_GT(matched, 10000);
  EXPECT_GT(unmatched, 5000);
}

TEST(RouterIndex, FindsRoutesBehindManyPrefixesAndHosts) {
  // Two thousand plain routes, as in docs/performance.md's callgrind run, plus host buckets.
  std::string yaml = "routes:\n";
  for (int i = 0; i < 2000; ++i)
    yaml += "  - {name: r" + std::to_string(i) + ", paths: [/r" + std::to_string(i) + "]}\n";
  yaml += "  - {name: host-only, hosts: [h.test]}\n  - {name: plain, paths: [/plain]}\n";
  yaml += "  - {name: wild, hosts: ['*.test'], paths: [/r1]}\n";
  auto c = config(yaml);
  Router router(c);
  EXPECT_EQ(matched_name(router, {.path = "/plain"}), "plain");
  EXPECT_EQ(matched_name(router, {.path = "/r1999/x"}), "r1999");
  EXPECT_EQ(matched_name(router, {.path = "/r19"}), "r19");
  EXPECT_EQ(matched_name(router, {.host = "H.test:9", .path = "/nothing"}), "host-only");
  EXPECT_EQ(matched_name(router, {.host = "h.test", .path = "/r1"}), "wild") << "host + path beats host";
  EXPECT_EQ(matched_name(router, {.path = "/nothing"}), "(none)");
}

}  // namespace
}  // namespace gh::router
