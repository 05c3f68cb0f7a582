#include <gtest/gtest.h>

#include "pdk/shapes.h"
#include "traffic/multipart.h"
#include "traffic/request_transform.h"
#include "traffic/response_transform.h"
#include "traffic/template.h"

using namespace gh::traffic;
using json = nlohmann::json;

namespace {

json rt_config(json overrides) {
  json empty = {{"body", json::array()}, {"headers", json::array()}, {"querystring", json::array()}};
  json c = {{"remove", empty}, {"rename", empty}, {"replace", empty}, {"add", empty}, {"append", empty}};
  for (auto& [k, v] : overrides.items()) {
    if (v.is_object()) {
      for (auto& [f, list] : v.items()) c[k][f] = list;
    } else {
      c[k] = v;
    }
  }
  return c;
}

std::string render(std::string_view text, const TemplateEnv& env) {
  std::string error;
  auto t = Template::parse(text, error);
  EXPECT_TRUE(t) << error;
  return t ? t->render(env) : "";
}

}  // namespace

TEST(Template, RendersSupportedExpressions) {
  gh::http::Headers headers;
  headers.add("X-Custom-Id", "abc");
  json query = {{"q", "1"}, {"list", {"a", "b"}}, {"flag", true}};
  std::vector<std::string> unnamed = {"/users/42", "42"};
  std::map<std::string, std::string> named = {{"user", "42"}};
  json shared = {{"tenant", {{"id", "t1"}}}};
  TemplateEnv env{&headers, &query, &unnamed, &named, &shared};
  EXPECT_EQ(render("Bearer $(headers.x_custom_id)", env), "Bearer abc");
  EXPECT_EQ(render("$(headers[\"x-custom-id\"])-$(query_params.q)", env), "abc-1");
  EXPECT_EQ(render("$(query_params.list)|$(query_params.flag)", env), "a|true");
  EXPECT_EQ(render("/v2/$(uri_captures.user)/$(uri_captures[1])", env), "/v2/42/42");
  EXPECT_EQ(render("$(shared.tenant.id)", env), "t1");
  EXPECT_EQ(render("[$(headers.missing)]", env), "[]");
  EXPECT_EQ(render("$(headers.missing or 'none')", env), "none");
  EXPECT_EQ(render("$(query_params[\"q\"] or \"x\")", env), "1");
  EXPECT_EQ(render("plain text", env), "plain text");
}

TEST(Template, RefusesLua) {
  std::string error;
  EXPECT_FALSE(Template::parse("$(os.execute('id'))", error));
  EXPECT_NE(error.find("gatehouse runs no Lua"), std::string::npos);
  EXPECT_FALSE(Template::parse("$(headers.a .. 'x')", error));
  EXPECT_FALSE(Template::parse("$(headers.a", error));
  EXPECT_FALSE(Template::parse("$(headers)", error));
  EXPECT_FALSE(Template::parse("$(headers[nil])", error));
}

TEST(RequestTransform, SplitsPairsLikeKong) {
  EXPECT_EQ(split_pair("a:b")->value, "b");
  EXPECT_EQ(split_pair("a:::b:c")->value, "b:c");
  EXPECT_EQ(split_pair("a")->value, "");
  EXPECT_FALSE(split_pair(":a"));
}

TEST(RequestTransform, Validates) {
  auto errors = RequestTransform::validate(rt_config({{"add", {{"headers", {"x-a"}}}}}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "config.add.headers[1]: key 'x-a' has no value");
  errors =
      RequestTransform::validate(rt_config({{"replace", {{"querystring", {"q:$(os.getenv('HOME'))"}}}}}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("is not in supported format"), std::string::npos);
  errors = RequestTransform::validate(rt_config({{"add", {{"headers", {"bad header:v"}}}}}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(RequestTransform::validate(rt_config({{"remove", {{"headers", {"x-a"}}}}})).empty());
}

TEST(RequestTransform, HeadersInKongsOrder) {
  RequestTransform t(
      rt_config({{"remove", {{"headers", {"x-remove"}}}},
                 {"rename", {{"headers", {"x-old:x-new"}}}},
                 {"replace", {{"headers", {"x-replace:new", "x-absent:v", "host:upstream.test"}}}},
                 {"add", {{"headers", {"x-add:1", "x-replace:ignored"}}}},
                 {"append", {{"headers", {"x-append:2"}}}}}));
  TransformedRequest req;
  req.headers.add("Host", "client.test");
  req.headers.add("X-Remove", "r");
  req.headers.add("X-Old", "o");
  req.headers.add("X-Replace", "old");
  req.headers.add("X-Append", "1");
  t.apply(req, std::nullopt, std::nullopt, {});
  EXPECT_FALSE(req.headers.has("x-remove"));
  EXPECT_FALSE(req.headers.has("x-old"));
  EXPECT_EQ(req.headers.get("x-new"), "o");
  EXPECT_EQ(req.headers.get("x-replace"), "new");
  EXPECT_FALSE(req.headers.has("x-absent"));
  EXPECT_EQ(req.headers.get("host"), "upstream.test");
  EXPECT_EQ(req.headers.get("x-add"), "1");
  EXPECT_EQ(req.headers.count("x-append"), 2u);
}

TEST(RequestTransform, TemplatedHeaderCannotInjectLines) {
  RequestTransform t(rt_config({{"add", {{"headers", {"x-from-query:$(query_params.q)"}}}}}));
  json query = {{"q", "a\r\nEvil: 1"}};
  TransformedRequest req;
  t.apply(req, std::nullopt, std::nullopt, {nullptr, &query});
  EXPECT_FALSE(req.headers.has("x-from-query"));
}

TEST(RequestTransform, QueryString) {
  RequestTransform t(rt_config({{"remove", {{"querystring", {"drop"}}}},
                                {"rename", {{"querystring", {"old:new"}}}},
                                {"replace", {{"querystring", {"r:2"}}}},
                                {"add", {{"querystring", {"a:added", "r:no"}}}},
                                {"append", {{"querystring", {"m:3"}}}}}));
  TransformedRequest req;
  req.query = "drop=1&old=o&r=1&m=1&keep=k%20k";
  t.apply(req, std::nullopt, std::nullopt, {});
  EXPECT_EQ(req.query, "a=added&keep=k%20k&m=1&m=3&new=o&r=2");
}

// An empty query that only gets arguments added is written without the JSON round trip: the
// same string as encode_query gives (sorted names, the first of a repeated name, escaping).
TEST(RequestTransform, QueryAddedToEmptyQuery) {
  RequestTransform t(
      rt_config({{"remove", {{"querystring", {"drop"}}}},
                 {"replace", {{"querystring", {"r:2"}}}},
                 {"add", {{"querystring", {"z:last", "a b:x y/\xc3\xa9&=", "a b:dup", "e:", "Z:up"}}}}}));
  TransformedRequest req;
  t.apply(req, std::nullopt, std::nullopt, {});
  json expected = {{"z", "last"}, {"a b", "x y/\xc3\xa9&="}, {"e", ""}, {"Z", "up"}};
  EXPECT_EQ(req.query, gh::pdk::encode_query(expected));
  EXPECT_EQ(req.query, "Z=up&a%20b=x%20y%2F%C3%A9%26%3D&e=&z=last");
}

TEST(RequestTransform, JsonBody) {
  RequestTransform t(rt_config({{"remove", {{"body", {"secret"}}}},
                                {"rename", {{"body", {"old:new"}}}},
                                {"replace", {{"body", {"r:x"}}}},
                                {"add", {{"body", {"a:1", "r:no"}}}},
                                {"append", {{"body", {"list:c", "s:t"}}}}}));
  ASSERT_TRUE(t.needs_body("application/json; charset=utf-8"));
  EXPECT_FALSE(t.needs_body("text/plain"));
  TransformedRequest req;
  t.apply(req, "application/json", R"({"secret":1,"old":true,"r":5,"list":["a","b"],"s":"s"})", {});
  ASSERT_TRUE(req.body);
  EXPECT_EQ(json::parse(*req.body),
            json::parse(R"({"new":true,"r":"x","a":"1","list":["a","b","c"],"s":["s","t"]})"));
  // Not JSON: left alone.
  TransformedRequest bad;
  t.apply(bad, "application/json", "{not json", {});
  EXPECT_FALSE(bad.body);
  // An empty body still gets add/append.
  TransformedRequest empty;
  t.apply(empty, "application/json", "", {});
  EXPECT_EQ(json::parse(*empty.body), json::parse(R"({"a":"1","r":"no","list":["c"],"s":["t"]})"));
}

TEST(RequestTransform, FormBodyAndMethod) {
  RequestTransform t(rt_config({{"add", {{"body", {"added:yes"}}}}, {"remove", {{"body", {"x"}}}}}));
  TransformedRequest req;
  t.apply(req, "application/x-www-form-urlencoded", "x=1&y=a+b", {});
  EXPECT_EQ(req.body, "added=yes&y=a%20b");

  RequestTransform to_get(rt_config({{"http_method", "get"}}));
  EXPECT_TRUE(to_get.needs_body("application/x-www-form-urlencoded"));
  TransformedRequest post;
  post.method = "POST";
  post.query = "a=1";
  to_get.apply(post, "application/x-www-form-urlencoded", "a=2&b=3", {});
  EXPECT_EQ(post.method, "GET");
  EXPECT_EQ(post.query, "a=1&a=2&b=3");
}

TEST(RequestTransform, ReplaceUri) {
  RequestTransform t(rt_config({{"replace", {{"uri", "/v2/users/$(uri_captures.id)"}}}}));
  std::map<std::string, std::string> named = {{"id", "7"}};
  TransformedRequest req;
  t.apply(req, std::nullopt, std::nullopt, {nullptr, nullptr, nullptr, &named});
  EXPECT_EQ(req.path, "/v2/users/7");
}

TEST(ResponseTransform, HeadersAndJson) {
  json c = {
      {"remove", {{"headers", {"x-remove"}}, {"json", {"secret"}}}},
      {"rename", {{"headers", {"x-old:x-new"}}, {"json", {"old:new"}}}},
      {"replace", {{"headers", {"x-replace:v"}}, {"json", {"n:42"}}, {"json_types", {"number"}}}},
      {"add", {{"headers", {"x-add:a"}}, {"json", {"flag:true", "s:str"}}, {"json_types", {"boolean"}}}},
      {"append", {{"headers", {"x-append:b"}}, {"json", {"l:z"}}, {"json_types", json::array()}}}};
  EXPECT_TRUE(ResponseTransform::validate(c).empty());
  ResponseTransform t(c);
  gh::http::Headers h;
  h.add("Content-Type", "application/json; charset=utf-8");
  h.add("Content-Length", "10");
  h.add("X-Remove", "1");
  h.add("X-Old", "o");
  h.add("X-Replace", "old");
  h.add("X-Append", "a");
  t.transform_headers(h);
  EXPECT_FALSE(h.has("x-remove"));
  EXPECT_EQ(h.get("x-new"), "o");
  EXPECT_EQ(h.get("x-replace"), "v");
  EXPECT_EQ(h.get("x-add"), "a");
  EXPECT_EQ(h.count("x-append"), 2u);
  EXPECT_FALSE(h.has("content-length"));
  auto body = t.transform_body(R"({"secret":"s","old":1,"n":"1","l":"y"})");
  ASSERT_TRUE(body);
  EXPECT_EQ(json::parse(*body), json::parse(R"({"new":1,"n":42,"flag":true,"s":"str","l":["y","z"]})"));
  EXPECT_FALSE(t.transform_body("[1,2]"));
  EXPECT_FALSE(t.transform_body("not json"));
  EXPECT_TRUE(ResponseTransform::is_json("application/problem+json"));
  EXPECT_FALSE(ResponseTransform::is_json("text/html"));
}

TEST(RequestTransform, MultipartBody) {
  RequestTransform t(rt_config({{"remove", {{"body", {"secret"}}}},
                                {"rename", {{"body", {"old:new"}}}},
                                {"replace", {{"body", {"r:x"}}}},
                                {"add", {{"body", {"a:1", "r:no"}}}}}));
  std::string ct = "multipart/form-data; boundary=\"XyZ\"";
  ASSERT_TRUE(t.needs_body(ct));
  std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"secret\"\r\n\r\ns\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"old\"\r\n\r\no\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"r\"\r\n\r\n5\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: "
      "text/plain\r\n\r\n"
      "line1\r\nline2\r\n--XyZ--\r\n";
  TransformedRequest req;
  t.apply(req, ct, body, {});
  ASSERT_TRUE(req.body);
  EXPECT_EQ(*req.body,
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: "
            "text/plain\r\n\r\n"
            "line1\r\nline2\r\n"
            "--XyZ\r\nContent-Disposition: form-data; name=\"new\"\r\n\r\no\r\n"
            "--XyZ\r\nContent-Disposition: form-data; name=\"r\"\r\n\r\nx\r\n"
            "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n");
  TransformedRequest broken;
  t.apply(broken, ct, "--XyZ\r\nno end", {});
  EXPECT_FALSE(broken.body);
  EXPECT_FALSE(MultipartBody::parse("--b\r\nX: y\r\n\r\nv", "b"));
  EXPECT_EQ(multipart_boundary("multipart/form-data; charset=x; boundary=abc"), "abc");
}
