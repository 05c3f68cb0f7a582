#include "pluginserver/schema.h"

#include <gtest/gtest.h>

#include "pluginserver/lua_pattern.h"
#include "pluginserver/registry.h"
#include "test_data.h"
#include "test_util.h"

namespace gh::pluginserver {
namespace {

using nlohmann::json;

TEST(LuaPattern, FindSemantics) {
  EXPECT_TRUE(lua_find("abc123", "%d+"));
  EXPECT_TRUE(lua_find("abc123", "^%a+%d+$"));
  EXPECT_FALSE(lua_find("abc123x", "^%a+%d+$"));
  EXPECT_TRUE(lua_find("my-tag_1", "^[%w-_]+$"));
  EXPECT_FALSE(lua_find("my tag", "^[%w-]+$"));
  EXPECT_TRUE(lua_find("f(a(b)c)", "%b()"));
  EXPECT_TRUE(lua_find("THE (quick) fox", "%f[%a]%a+"));
  EXPECT_TRUE(lua_find("a.b", "a%.b"));
  EXPECT_FALSE(lua_find("axb", "a%.b"));
  EXPECT_TRUE(lua_find("x=1, x=1", "(x=%d).-%1"));
  EXPECT_TRUE(lua_find("", "^$"));
  EXPECT_TRUE(lua_find("aaa", "^a-$"));
  EXPECT_TRUE(lua_find("ab", "^ab?c?$"));
  EXPECT_TRUE(lua_find("cost $5", "%$%d"));
  EXPECT_FALSE(lua_find("ABC", "^%l+$"));
  EXPECT_TRUE(lua_find("ABC", "^%L+$"));
  EXPECT_THROW(lua_find("x", "[a"), std::runtime_error);
  EXPECT_THROW(lua_find("x", "x%"), std::runtime_error);
}

// The schema of tests/integration/plugins/js/js-hello.js, as kong-pdk reports it.
json js_hello_schema() {
  return json::parse(R"({"name":"js-hello","fields":[{"config":{"type":"record","fields":[
    {"message":{"type":"string","required":true}},
    {"greetings":{"type":"integer","default":1,"between":[1,10]}},
    {"tone":{"type":"string","default":"polite","one_of":["polite","casual"]}},
    {"tags":{"type":"array","elements":{"type":"string","match":"^[%w-]+$"}}}]}}]})");
}

TEST(ValidateScope, NoConsumerForbidsOnlyTheConsumerScope) {
  json schema = {{"name", "p"}, {"fields", {no_consumer_field(), {{"config", {{"type", "record"}}}}}}};
  EXPECT_EQ(validate_scope(schema, {.consumer = true}),
            std::vector<std::string>{"consumer: value must be null"});
  EXPECT_TRUE(validate_scope(schema, {.route = true, .service = true}).empty());
  json no_route = {{"fields", {{{"route", {{"type", "foreign"}, {"eq", nullptr}}}}}}};
  EXPECT_EQ(validate_scope(no_route, {.route = true}), std::vector<std::string>{"route: value must be null"});
  // A foreign field without eq = null (an ordinary reference) forbids nothing.
  json plain = {{"fields", {{{"consumer", {{"type", "foreign"}, {"reference", "consumers"}}}}}}};
  EXPECT_TRUE(validate_scope(plain, {.consumer = true}).empty());
  EXPECT_TRUE(validate_scope(json("not a schema"), {.consumer = true}).empty());
}

TEST(ValidateConfig, FillsDefaults) {
  json config = {{"message", "hi"}};
  EXPECT_TRUE(validate_config(js_hello_schema(), config).empty());
  EXPECT_EQ(config, json({{"message", "hi"}, {"greetings", 1}, {"tone", "polite"}}));
}

TEST(ValidateConfig, ReportsEveryErrorWithItsPath) {
  json config = {{"greetings", 11}, {"tone", "rude"}, {"tags", {"ok", "not ok"}}, {"colour", "red"}};
  auto errors = validate_config(js_hello_schema(), config);
  EXPECT_EQ(errors, (std::vector<std::string>{"config.message: required field missing",
                                              "config.greetings: value should be between 1 and 10",
                                              "config.tone: expected one of: polite, casual",
                                              "config.tags[2]: invalid value: not ok",
                                              "config.colour: unknown field"}));
}

TEST(ValidateConfig, TypeErrors) {
  json schema = json::parse(R"({"name":"t","fields":[{"config":{"type":"record","fields":[
    {"s":{"type":"string"}}, {"n":{"type":"number"}}, {"i":{"type":"integer"}}, {"b":{"type":"boolean"}},
    {"a":{"type":"array"}}, {"set":{"type":"set"}}, {"m":{"type":"map"}}, {"r":{"type":"record","fields":[]}}]}}]})");
  json config = {{"s", 1},   {"n", "1"}, {"i", 1.5},    {"b", "true"},
                 {"a", "x"}, {"set", 1}, {"m", {1, 2}}, {"r", 3}};
  auto errors = validate_config(schema, config);
  EXPECT_EQ(errors, (std::vector<std::string>{"config.s: expected a string", "config.n: expected a number",
                                              "config.i: expected an integer", "config.b: expected a boolean",
                                              "config.a: expected an array", "config.set: expected a set",
                                              "config.m: expected a map", "config.r: expected a record"}));
}

TEST(ValidateConfig, NestedRecordsMapsSetsAndLengths) {
  json schema = json::parse(R"({"name":"t","fields":[{"config":{"type":"record","fields":[
    {"upstream":{"type":"record","fields":[
        {"host":{"type":"string","required":true}},
        {"port":{"type":"integer","default":80,"between":[1,65535]}}]}},
    {"limits":{"type":"record","fields":[{"per_second":{"type":"number","default":10}}]}},
    {"headers":{"type":"map","keys":{"type":"string","match":"^x%-"},"values":{"type":"string","len_max":5}}},
    {"methods":{"type":"set","elements":{"type":"string","one_of":["GET","POST"]},"len_min":1}},
    {"empty_ok":{"type":"string","len_min":0}},
    {"name":{"type":"string"}}]}}]})");
  json config = {{"upstream", {{"port", 0}}},
                 {"headers", {{"x-a", "short"}, {"y-b", "waytoolong"}}},
                 {"methods", {"GET", "GET", "POST"}},
                 {"empty_ok", ""},
                 {"name", ""}};
  auto errors = validate_config(schema, config);
  EXPECT_EQ(errors, (std::vector<std::string>{"config.upstream.host: required field missing",
                                              "config.upstream.port: value should be between 1 and 65535",
                                              "config.headers.y-b (key): invalid value: y-b",
                                              "config.headers.y-b: length must be at most 5",
                                              "config.name: length must be at least 1"}));
  EXPECT_EQ(config["limits"], json({{"per_second", 10}}));  // a record with defaults is created
  EXPECT_EQ(config["methods"], json({"GET", "POST"}));      // a set drops duplicates
  json empty_methods = {{"methods", json::array()}, {"upstream", {{"host", "h"}}}};
  EXPECT_EQ(validate_config(schema, empty_methods),
            (std::vector<std::string>{"config.methods: length must be at least 1"}));
}

TEST(ValidateConfig, NullConfigMeansEmptyAndIntegersMayBeWrittenAsFloats) {
  json schema = json::parse(
      R"({"name":"t","fields":[{"config":{"type":"record","fields":[{"n":{"type":"integer","default":3}}]}}]})");
  json config = nullptr;
  EXPECT_TRUE(validate_config(schema, config).empty());
  EXPECT_EQ(config, json({{"n", 3}}));
  json floaty = {{"n", 4.0}};
  EXPECT_TRUE(validate_config(schema, floaty).empty());
  EXPECT_TRUE(floaty["n"].is_number_integer());
  json not_record = "text";
  EXPECT_EQ(validate_config(schema, not_record), (std::vector<std::string>{"config: expected a record"}));
}

TEST(ValidateConfig, RealConformanceSchemas) {
  for (auto file : {"go-pb-dump.json", "py-mp-dump.json", "js-mp-dump.json"}) {
    const std::string text = gh::test::read_conformance_file(file);
    json schema = parse_dump(text).plugins.at(0).schema;
    json good = {{"mode", "normal"}, {"tag", "t1"}};
    EXPECT_TRUE(validate_config(schema, good).empty()) << file;
    json bad = {{"mode", 1}, {"extra", true}};
    EXPECT_EQ(validate_config(schema, bad),
              (std::vector<std::string>{"config.mode: expected a string", "config.extra: unknown field"}))
        << file;
  }
}

TEST(ValidatePlugins, NamesThePluginAndTheEntity) {
  Registry registry;
  PluginInfo info;
  info.name = "js-hello";
  info.server = "js";
  info.schema = js_hello_schema();
  registry.add(info);
  std::vector<conf::Plugin> plugins(3);
  plugins[0].name = "js-hello";
  plugins[0].id = "p1";
  plugins[0].route_id = "r1";
  plugins[0].config = {{"message", 5}};
  plugins[1].name = "cors";  // not a plugin-server plugin: left alone
  plugins[1].config = {{"anything", true}};
  plugins[2].name = "js-hello";
  plugins[2].config = {{"message", "ok"}};
  auto errors = validate_plugins(registry, plugins);
  EXPECT_EQ(
      errors,
      (std::vector<std::string>{"plugin 'js-hello' (id p1, route r1): config.message: expected a string"}));
  EXPECT_EQ(plugins[2].config["greetings"], 1);  // defaults filled in the entity
}

// The schema reported by the real kong-pdk server for the repository's JS plugin.
TEST(ValidateConfig, SchemaFromTheRealJsServer) {
  std::string server = testing::source_path("tools/node_modules/.bin/kong-js-pluginserver");
  ASSERT_EQ(access(server.c_str(), X_OK), 0) << "run scripts/setup to install kong-pdk";
  ServerConfig js;
  js.name = "js";
  js.query_cmd = server + " --plugins-directory " + testing::source_path("tests/integration/plugins/js") +
                 " --dump-all-plugins";
  Registry registry = discover({js}, {});
  json schema = registry.find("js-hello")->schema;
  json config = {{"message", "hello"}, {"tags", {"a-b", "c d"}}};
  EXPECT_EQ(validate_config(schema, config),
            (std::vector<std::string>{"config.tags[2]: invalid value: c d"}));
  EXPECT_EQ(config["tone"], "polite");
  json goodbye = json::object();
  EXPECT_TRUE(validate_config(registry.find("js-goodbye")->schema, goodbye).empty());
  EXPECT_EQ(goodbye["who"], "world");
}

}  // namespace
}  // namespace gh::pluginserver
