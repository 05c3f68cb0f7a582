// proxy-cache's cache key, checked against the composition of Kong's cache_key.lua (and its
// spec/03-plugins/31-proxy-cache/05-cache_key_spec.lua cases).
#include "cache/key.h"

#include <gtest/gtest.h>

namespace gh::cache {
namespace {

using nlohmann::json;

struct Inputs {
  std::string consumer, route = "r1", method = "GET", uri = "GET /get HTTP/1.1";
  json query = json::object();
  http::Headers headers;
  std::vector<std::string> vary_query, vary_headers;

  std::string material() const {
    KeyInputs in;
    in.consumer_id = consumer;
    in.route_id = route;
    in.method = method;
    in.uri = uri;
    in.query = &query;
    in.headers = &headers;
    in.vary_query_params = &vary_query;
    in.vary_headers = &vary_headers;
    return key_material(in);
  }
};

TEST(CacheKey, Sha256IsLowerCaseHex) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CacheKey, PrefixIsConsumerAndRouteOrRouteOrDefault) {
  Inputs in;
  EXPECT_EQ(in.material(), "r1|GET|GET /get HTTP/1.1||");
  in.consumer = "c1";
  EXPECT_EQ(in.material(), "c1:r1|GET|GET /get HTTP/1.1||");
  in.route.clear();
  EXPECT_EQ(in.material(), "default|GET|GET /get HTTP/1.1||");
}

TEST(CacheKey, RequestLineUriIsCutAtTheQuery) {
  EXPECT_EQ(request_line_uri("GET", "/get", 1, false), "GET /get HTTP/1.1");
  EXPECT_EQ(request_line_uri("GET", "/get?a=1", 1, false), "GET /get");
  EXPECT_EQ(request_line_uri("HEAD", "/x", 0, false), "HEAD /x HTTP/1.0");
  EXPECT_EQ(request_line_uri("GET", "/My-Route/KONG", 1, true), "get /my-route/kong http/1.1");
}

TEST(CacheKey, AllQueryArgumentsSortedByDefault) {
  Inputs in;
  in.query = {{"b", "2"}, {"a", "1"}};
  EXPECT_EQ(in.material(), "r1|GET|GET /get HTTP/1.1|a=1:b=2|");
}

TEST(CacheKey, RepeatedValuesSortedAndFlagsBare) {
  Inputs in;
  in.query = {{"a", json::array({"2", "1"})}, {"b", true}};
  EXPECT_EQ(in.material(), "r1|GET|GET /get HTTP/1.1|a=1,2:b|");
}

TEST(CacheKey, VaryQueryParamsKeepsOnlyThoseNamedInTheirOrder) {
  Inputs in;
  in.query = {{"a", json::array({"1", "2"})}, {"b", "2"}, {"z", "9"}};
  in.vary_query = {"b", "a", "c"};
  EXPECT_EQ(in.material(), "r1|GET|GET /get HTTP/1.1|b=2:a=1,2|");
}

TEST(CacheKey, EmptyQueryGivesAnEmptyPart) {
  Inputs in;
  in.vary_query = {"a"};
  EXPECT_EQ(in.material(), "r1|GET|GET /get HTTP/1.1||");
}

TEST(CacheKey, HeadersOnlyWhenVaryHeadersNamesThem) {
  Inputs in;
  in.headers.add("Foo", "bar");
  in.headers.add("X-Multi", "2");
  in.headers.add("x-multi", "1");
  EXPECT_EQ(in.material(), "r1|GET|GET /get HTTP/1.1||");
  in.vary_headers = {"foo", "X_Multi", "absent"};
  EXPECT_EQ(in.material(), "r1|GET|GET /get HTTP/1.1||foo=bar:X_Multi=1,2");
}

TEST(CacheKey, KeyIsTheHashOfTheMaterial) {
  Inputs in;
  KeyInputs k;
  k.route_id = in.route;
  k.method = in.method;
  k.uri = in.uri;
  EXPECT_EQ(cache_key(k), sha256_hex("r1|GET|GET /get HTTP/1.1||"));
  EXPECT_EQ(cache_key(k).size(), 64u);
}

}  // namespace
}  // namespace gh::cache
