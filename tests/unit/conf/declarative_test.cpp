#include "conf/declarative.h"

#include <gtest/gtest.h>

#include "conf/error.h"
#include "conf/yaml_guard.h"
#include "test_support.h"

namespace gh::conf {
namespace {

using testing::fixture;
using testing::LogCapture;
using testing::TempDir;

std::string error_of(const std::string& yaml) {
  try {
    parse_declarative(yaml, "kong.yml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

const Route& route_named(const Declarative& d, const std::string& name) {
  for (const auto& r : d.routes)
    if (r.name == name) return r;
  throw std::runtime_error("no route " + name);
}

TEST(Declarative, LoadsEveryEntityKindFromARealFile) {
  LogCapture log;
  auto d = load_declarative(fixture("kong.yml"));
  EXPECT_EQ(d.format_version, "3.0");

  ASSERT_EQ(d.services.size(), 2u);
  const Service& orders = d.services[0];
  EXPECT_EQ(orders.name, "orders");
  EXPECT_EQ(orders.protocol, "https");
  EXPECT_EQ(orders.host, "orders.internal");
  EXPECT_EQ(orders.port, 8443);
  EXPECT_EQ(orders.path, "/api");
  EXPECT_EQ(orders.retries, 3);
  EXPECT_EQ(orders.connect_timeout_ms, 1000);
  EXPECT_EQ(orders.read_timeout_ms, 60000);
  EXPECT_EQ(orders.tags, std::vector<std::string>{"team-a"});
  const Service& users = d.services[1];
  EXPECT_EQ(users.protocol, "http");
  EXPECT_EQ(users.host, "users-upstream");
  EXPECT_EQ(users.port, 8080);
  EXPECT_EQ(users.path, "/v1");
  EXPECT_EQ(users.read_timeout_ms, 5000);

  ASSERT_EQ(d.routes.size(), 2u);
  const Route& nested = route_named(d, "orders-route");
  EXPECT_EQ(nested.service_id, orders.id);
  EXPECT_EQ(nested.paths, (std::vector<std::string>{"/orders", "~/orders/(?<id>\\d+)$"}));
  EXPECT_EQ(nested.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_FALSE(nested.strip_path);
  EXPECT_EQ(nested.protocols, (std::vector<std::string>{"http", "https"}));
  const Route& top = route_named(d, "users-route");
  EXPECT_EQ(top.service_id, users.id);
  EXPECT_EQ(top.hosts, (std::vector<std::string>{"api.example.com", "*.example.org"}));
  EXPECT_EQ(top.headers.at("x-version"), (std::vector<std::string>{"1", "2"}));
  EXPECT_TRUE(top.preserve_host);
  EXPECT_EQ(top.path_handling, "v1");
  EXPECT_LT(nested.created_order, top.created_order) << "file position orders routes";

  ASSERT_EQ(d.consumers.size(), 2u);
  EXPECT_EQ(d.consumers[0].username, "alice");
  EXPECT_EQ(d.consumers[0].custom_id, "a-1");
  EXPECT_EQ(d.consumers[0].tags, std::vector<std::string>{"vip"});
  ASSERT_NE(d.credentials.find_key("secret-key"), nullptr);
  EXPECT_EQ(d.credentials.find_key("secret-key")->consumer_id, d.consumers[0].id);
  EXPECT_EQ(d.find_consumer(d.consumers[1].id)->username, "bob");

  ASSERT_EQ(d.plugins.size(), 4u);
  const Plugin& route_plugin = d.plugins[0];
  EXPECT_EQ(route_plugin.name, "rate-limiting");
  EXPECT_EQ(route_plugin.route_id, nested.id);
  EXPECT_EQ(route_plugin.config["minute"], 5);
  EXPECT_EQ(route_plugin.config["policy"], "local");
  EXPECT_EQ(d.plugins[1].name, "js-hello");
  EXPECT_EQ(d.plugins[1].service_id, orders.id);
  EXPECT_EQ(d.plugins[2].name, "correlation-id");
  EXPECT_TRUE(d.plugins[2].is_global());
  const Plugin& scoped = d.plugins[3];
  EXPECT_EQ(scoped.service_id, users.id);
  EXPECT_EQ(scoped.consumer_id, d.consumers[0].id);
  EXPECT_FALSE(scoped.enabled);
  EXPECT_EQ(scoped.config,
            nlohmann::json::parse(R"({"message":"yo","count":3,"ratio":0.5,"flag":true,"quoted":"true",
                                      "list":[1,"two"]})"));

  ASSERT_EQ(d.upstreams.size(), 1u);
  const Upstream& up = *d.find_upstream_by_name("users-upstream");
  EXPECT_EQ(up.algorithm, "round-robin");
  ASSERT_EQ(up.targets.size(), 3u);
  EXPECT_EQ(up.targets[0].target, "10.0.0.1:8080");
  EXPECT_EQ(up.targets[0].weight, 50);
  EXPECT_EQ(up.targets[1].target, "10.0.0.2:8000");
  EXPECT_EQ(up.targets[1].weight, 100);
  EXPECT_EQ(up.targets[2].target, "10.0.0.3:9090");
  EXPECT_EQ(up.targets[2].weight, 0);

  ASSERT_EQ(d.certificates.size(), 1u);
  EXPECT_EQ(d.certificates[0].id, "4f1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10");
  EXPECT_NE(d.certificates[0].cert.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(d.certificates[0].key.find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(d.certificates[0].snis, (std::vector<std::string>{"api.example.com", "shop.example.com"}));

  EXPECT_EQ(d.find_service(orders.id), &orders);
  EXPECT_EQ(d.find_route(top.id), &top);
  EXPECT_EQ(d.find_service("nope"), nullptr);
  EXPECT_NE(log.text().find("kong.yml:99: 'vaults' entities are not supported by gatehouse and are ignored"),
            std::string::npos)
      << log.text();
}

// What Kong's declarative schema accepts on every entity and at the top level (real files, e.g.
// the `kong config init` template and Supabase's kong.yml, carry `_comment`).
TEST(Declarative, CommentAndIgnoreAreAcceptedEverywhere) {
  auto d = parse_declarative(
      "_format_version: \"3.0\"\n"
      "_comment: a file\n"
      "_ignore: [anything, {x: 1}]\n"
      "services:\n"
      "  - name: s\n"
      "    _comment: the service\n"
      "    host: h\n"
      "    routes:\n"
      "      - name: r\n"
      "        _comment: nested route\n"
      "        _ignore: [x]\n"
      "        paths: [/r]\n"
      "consumers:\n"
      "  - username: u\n"
      "    _comment: a consumer\n"
      "plugins:\n"
      "  - name: p\n"
      "    _comment: a plugin\n",
      "kong.yml");
  EXPECT_EQ(d.services.size(), 1u);
  EXPECT_EQ(d.routes.size(), 1u);
  EXPECT_EQ(d.consumers.size(), 1u);
  EXPECT_EQ(d.plugins.size(), 1u);
}

// Kong's `url` shorthand replaces protocol, host, port and path.
TEST(Declarative, ServiceUrlWinsOverTheFieldsItSets) {
  auto d = parse_declarative(
      "_format_version: \"3.0\"\n"
      "services:\n"
      "  - name: s\n"
      "    protocol: https\n"
      "    host: ignored\n"
      "    port: 1\n"
      "    url: http://real:8080/p\n",
      "kong.yml");
  ASSERT_EQ(d.services.size(), 1u);
  EXPECT_EQ(d.services[0].protocol, "http");
  EXPECT_EQ(d.services[0].host, "real");
  EXPECT_EQ(d.services[0].port, 8080);
  EXPECT_EQ(d.services[0].path, "/p");
}

TEST(Declarative, GeneratedIdsAreStableUuidsAndGivenIdsAreKept) {
  auto a = load_declarative(fixture("kong.yml"));
  auto b = load_declarative(fixture("kong.yml"));
  ASSERT_EQ(a.services.size(), b.services.size());
  for (size_t i = 0; i < a.services.size(); ++i) {
    EXPECT_TRUE(is_uuid(a.services[i].id)) << a.services[i].id;
    EXPECT_EQ(a.services[i].id, b.services[i].id);
  }
  for (size_t i = 0; i < a.plugins.size(); ++i) EXPECT_EQ(a.plugins[i].id, b.plugins[i].id);
  EXPECT_NE(a.services[0].id, a.services[1].id);
  EXPECT_EQ(deterministic_uuid("x"), deterministic_uuid("x"));
  EXPECT_NE(deterministic_uuid("service:a"), deterministic_uuid("service:b"));
  EXPECT_EQ(deterministic_uuid("service:a")[14], '5') << "version-5 layout";

  auto d = parse_declarative(R"(
_format_version: "3.0"
services:
  - id: 0b5e4f26-1a0c-4f8e-bb1f-5c2d7b0f9a11
    name: s
    url: http://x
)",
                             "k.yml");
  EXPECT_EQ(d.services[0].id, "0b5e4f26-1a0c-4f8e-bb1f-5c2d7b0f9a11");
}

TEST(Declarative, Format21PathsThatLookLikeRegexBecomeRegex) {
  LogCapture log;
  auto d = load_declarative(fixture("kong-2.1.yml"));
  EXPECT_EQ(d.format_version, "2.1");
  EXPECT_EQ(d.routes[0].paths, (std::vector<std::string>{"~/items/\\d+", "/plain"}));
  EXPECT_NE(log.text().find("looks like a regex"), std::string::npos);
}

TEST(Declarative, ServiceUrlForms) {
  auto d = parse_declarative(R"(
_format_version: "3.0"
services:
  - {name: a, url: "https://secure.example.com"}
  - {name: b, url: "http://[::1]:9000/p/q?x=1"}
  - {name: c, url: "grpcs://user:pw@g.example.com"}
  - {name: d, host: plain.example.com}
)",
                             "k.yml");
  EXPECT_EQ(d.services[0].port, 443);
  EXPECT_EQ(d.services[0].path, "");
  EXPECT_EQ(d.services[1].host, "::1");
  EXPECT_EQ(d.services[1].port, 9000);
  EXPECT_EQ(d.services[1].path, "/p/q");
  EXPECT_EQ(d.services[2].protocol, "grpcs");
  EXPECT_EQ(d.services[2].host, "g.example.com");
  EXPECT_EQ(d.services[3].protocol, "http");
  EXPECT_EQ(d.services[3].port, 80);
}

TEST(Declarative, PluginReferencesByIdOrMapping) {
  auto d = parse_declarative(R"(
_format_version: "3.0"
services:
  - id: 0b5e4f26-1a0c-4f8e-bb1f-5c2d7b0f9a11
    name: s
    url: http://x
    routes:
      - name: r
        paths: [/]
        plugins:
          - name: p1
            consumer: {username: ignored, id: 6f3c0a8e-7d2b-4c9a-8e1f-2b3c4d5e6f70}
consumers:
  - id: 6f3c0a8e-7d2b-4c9a-8e1f-2b3c4d5e6f70
    username: carol
plugins:
  - name: p2
    service: 0b5e4f26-1a0c-4f8e-bb1f-5c2d7b0f9a11
  - name: p3
    route: {name: r}
)",
                             "k.yml");
  ASSERT_EQ(d.plugins.size(), 3u);
  EXPECT_EQ(d.plugins[0].route_id, d.routes[0].id);
  EXPECT_EQ(d.plugins[0].consumer_id, "6f3c0a8e-7d2b-4c9a-8e1f-2b3c4d5e6f70");
  EXPECT_EQ(d.plugins[1].service_id, "0b5e4f26-1a0c-4f8e-bb1f-5c2d7b0f9a11");
  EXPECT_EQ(d.plugins[2].route_id, d.routes[0].id);
}

struct ErrorCase {
  const char* yaml;
  const char* message;
};

void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << c.message;
}

class DeclarativeErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(DeclarativeErrors, NameFileLineEntityAndField) {
  EXPECT_EQ(error_of(GetParam().yaml), GetParam().message);
}

#define V3 "_format_version: \"3.0\"\n"
INSTANTIATE_TEST_SUITE_P(
    Kong, DeclarativeErrors,
    ::testing::Values(
        ErrorCase{"", "kong.yml: the top level must be a mapping (is the file empty?)"},
        ErrorCase{"- a\n", "kong.yml:1: the top level must be a mapping (is the file empty?)"},
        ErrorCase{V3 "services:\n  - just-a-string\n", "kong.yml:3: services[0]: expected a mapping"},
        ErrorCase{"services: []\n",
                  "kong.yml:1: missing _format_version (expected \"3.0\", \"2.1\" or \"1.1\")"},
        ErrorCase{
            "_format_version: \"4.0\"\n",
            "kong.yml:1: _format_version: unsupported version '4.0' (expected \"3.0\", \"2.1\" or \"1.1\")"},
        ErrorCase{V3 "services:\n  - name: a\n    url: [x\n",
                  "kong.yml:5: invalid YAML: end of sequence flow not found"},
        ErrorCase{V3 "services: {a: 1}\n", "kong.yml:2: services: expected a list"},
        ErrorCase{V3 "services:\n  - name: a\n",
                  "kong.yml:3: services[0] (name 'a'): a service needs 'url' or 'host'"},
        ErrorCase{V3 "services:\n  - name: a\n    url: nowhere\n",
                  "kong.yml:4: services[0] (name 'a').url: invalid URL 'nowhere' (expected "
                  "scheme://host[:port][/path])"},
        ErrorCase{V3 "services:\n  - name: a\n    url: ftp://x\n",
                  "kong.yml:4: services[0] (name 'a').url: unsupported scheme 'ftp'"},
        ErrorCase{V3 "services:\n  - name: a\n    url: http://x:99999\n",
                  "kong.yml:4: services[0] (name 'a').url: invalid port '99999'"},
        ErrorCase{V3 "servces:\n  - name: a\n", "kong.yml:2: servces: unknown field"},
        ErrorCase{V3 "keyauth_credentials:\n  - key: k\n    consumer: c\n",
                  "kong.yml:4: keyauth_credentials[0].consumer: references unknown consumer 'c'"},
        ErrorCase{V3 "acls:\n  - group: g\n", "kong.yml:3: acls[0].consumer: required field missing"},
        ErrorCase{V3 "hmacauth_credentials:\n  - username: u\n",
                  "kong.yml:2: hmacauth_credentials: 'hmacauth_credentials' entities are not supported "
                  "(gatehouse bundles key-auth, basic-auth, jwt and acl); gatehouse refuses them rather than "
                  "ignore credentials"},
        ErrorCase{V3 "consumers:\n  - username: a\n    keyauth_credentials: [{key: k}]\n"
                     "  - username: b\n    keyauth_credentials: [{key: k}]\n",
                  "kong.yml:6: consumers[1] (username 'b').keyauth_credentials[0].key: uniqueness violation: "
                  "'keyauth_credentials' entity with key set to 'k' already declared"},
        ErrorCase{
            V3 "consumers:\n  - username: a\n    keyauth_credentials: [{key: k}]\n"
               "keyauth_credentials:\n  - {consumer: a, key: k}\n",
            "kong.yml:6: keyauth_credentials[0].key: uniqueness violation: 'keyauth_credentials' entity "
            "with key set to 'k' already declared"},
        ErrorCase{V3 "consumers:\n  - username: a\nbasicauth_credentials:\n  - {consumer: a, username: u, "
                     "password: p}\n  - {consumer: a, username: u, password: q}\n",
                  "kong.yml:6: basicauth_credentials[1] (username 'u').username: uniqueness violation: "
                  "'basicauth_credentials' entity with username set to 'u' already declared"},
        ErrorCase{V3 "consumers:\n  - username: a\nbasicauth_credentials:\n  - {consumer: a, username: u}\n",
                  "kong.yml:5: basicauth_credentials[0] (username 'u').password: required field missing"},
        ErrorCase{V3 "consumers:\n  - username: a\n    jwt_secrets: [{key: k, algorithm: none}]\n",
                  "kong.yml:4: consumers[0] (username 'a').jwt_secrets[0].algorithm: expected one of: HS256, "
                  "HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"},
        ErrorCase{V3 "consumers:\n  - username: a\n    jwt_secrets: [{key: k, algorithm: RS256}]\n",
                  "kong.yml:4: consumers[0] (username 'a').jwt_secrets[0].rsa_public_key: required field "
                  "missing"},
        ErrorCase{V3 "consumers:\n  - username: a\n    jwt_secrets: [{key: k, algorithm: PS384}]\n",
                  "kong.yml:4: consumers[0] (username 'a').jwt_secrets[0].rsa_public_key: required field "
                  "missing"},
        ErrorCase{V3 "consumers:\n  - username: a\n    jwt_secrets: [{key: k, algorithm: EdDSA}]\n",
                  "kong.yml:4: consumers[0] (username 'a').jwt_secrets[0].rsa_public_key: required field "
                  "missing"},
        ErrorCase{V3 "consumers:\n  - username: a\n    jwt_secrets:\n      - {key: k, algorithm: RS256, "
                     "rsa_public_key: nope}\n",
                  "kong.yml:5: consumers[0] (username 'a').jwt_secrets[0].rsa_public_key: invalid key: not a "
                  "PEM public key"},
        ErrorCase{
            V3 "consumers:\n  - username: a\n    acls: [{group: g}, {group: g}]\n",
            "kong.yml:4: consumers[0] (username 'a').acls[1].group: uniqueness violation: 'acls' entity "
            "with group set to 'g' already declared for this consumer"},
        ErrorCase{
            V3 "consumers:\n  - username: a\n    acls: [{group: g, consumer: b}]\n  - username: b\n",
            "kong.yml:4: consumers[0] (username 'a').acls[0].consumer: references unknown consumer 'b'"},
        ErrorCase{V3 "consumers:\n  - username: a\n    acls: [{group: g, colour: red}]\n",
                  "kong.yml:4: consumers[0] (username 'a').acls[0].colour: unknown field"},
        ErrorCase{V3 "_comment: [a]\n", "kong.yml:2: _comment: expected a string"},
        ErrorCase{V3 "services:\n  - name: a\n    host: x\n    _ignore: 1\n",
                  "kong.yml:5: services[0] (name 'a')._ignore: expected a list"},
        ErrorCase{V3 "services:\n  - name: a\n    host: x\n    port: 70000\n",
                  "kong.yml:5: services[0] (name 'a').port: value should be between 0 and 65535"},
        ErrorCase{V3 "services:\n  - name: a\n    host: x\n    protocol: gopher\n",
                  "kong.yml:5: services[0] (name 'a').protocol: expected one of: grpc, grpcs, http, https, "
                  "tcp, tls, "
                  "tls_passthrough, udp, ws, wss"},
        ErrorCase{
            V3 "services:\n  - name: a\n    url: http://x\n    connect_timeout: 0\n",
            "kong.yml:5: services[0] (name 'a').connect_timeout: value should be between 1 and 2147483646"},
        ErrorCase{V3 "services:\n  - name: a\n    url: http://x\n    read_timeout: soon\n",
                  "kong.yml:5: services[0] (name 'a').read_timeout: expected an integer, got 'soon'"},
        ErrorCase{V3 "services:\n  - name: a\n    url: http://x\n    retries: -1\n",
                  "kong.yml:5: services[0] (name 'a').retries: value should be between 0 and 32767"},
        ErrorCase{V3 "services:\n  - name: a\n    host: x\n    path: api\n",
                  "kong.yml:5: services[0] (name 'a').path: must start with '/'"},
        ErrorCase{
            V3 "services:\n  - name: a\n    url: tcp://x:9/p\n",
            "kong.yml:3: services[0] (name 'a'): path can only be set when protocol is 'http' or 'https'"},
        ErrorCase{V3 "services:\n  - name: a\n    url: http://x\n    colour: red\n",
                  "kong.yml:5: services[0] (name 'a').colour: unknown field"},
        ErrorCase{V3 "services:\n  - name: a\n    url: http://x\n  - name: a\n    url: http://y\n",
                  "kong.yml:5: services[1] (name 'a').name: duplicate name 'a'"},
        ErrorCase{V3 "services:\n  - id: 123\n    url: http://x\n",
                  "kong.yml:3: services[0].id: expected a valid UUID, got '123'"},
        ErrorCase{V3 "routes:\n  - name: api\n    paths: [/a, b]\n",
                  "kong.yml:4: routes[0] (name 'api').paths[1]: must start with '/' or '~'"},
        ErrorCase{V3 "routes:\n  - name: api\n    paths:\n      - /ok\n      - ~/(unclosed\n",
                  "kong.yml:6: routes[0] (name 'api').paths[1]: invalid regex '/(unclosed': missing closing "
                  "parenthesis at offset 10"},
        ErrorCase{
            V3 "routes:\n  - name: api\n    strip_path: true\n",
            "kong.yml:3: routes[0] (name 'api'): must set one of 'methods', 'hosts', 'headers', 'paths', "
            "'snis' when 'protocols' is 'http' or 'https'"},
        ErrorCase{V3 "routes:\n  - name: api\n    methods: [get]\n",
                  "kong.yml:4: routes[0] (name 'api').methods[0]: invalid method 'get': must be upper-case "
                  "letters"},
        ErrorCase{
            V3 "routes:\n  - name: api\n    hosts: [\"a.*.com\"]\n",
            "kong.yml:4: routes[0] (name 'api').hosts[0]: invalid wildcard host 'a.*.com': the wildcard must "
            "be leftmost or rightmost"},
        ErrorCase{V3 "routes:\n  - name: api\n    hosts: [\"*.a.*\"]\n",
                  "kong.yml:4: routes[0] (name 'api').hosts[0]: invalid wildcard host '*.a.*': only one "
                  "wildcard is "
                  "allowed"},
        ErrorCase{V3 "routes:\n  - name: api\n    hosts: [\"a.com:http\"]\n",
                  "kong.yml:4: routes[0] (name 'api').hosts[0]: invalid port in host 'a.com:http'"},
        ErrorCase{V3 "routes:\n  - name: api\n    hosts: [\"[::1]:x\"]\n",
                  "kong.yml:4: routes[0] (name 'api').hosts[0]: invalid port in host '[::1]:x'"},
        ErrorCase{V3 "routes:\n  - name: api\n    hosts: [\"[::zz]\"]\n",
                  "kong.yml:4: routes[0] (name 'api').hosts[0]: invalid IPv6 host '[::zz]'"},
        ErrorCase{V3 "routes:\n  - name: api\n    paths: [/]\n    protocols: [http, smtp]\n",
                  "kong.yml:5: routes[0] (name 'api').protocols[1]: expected one of: grpc, grpcs, http, "
                  "https, tcp, "
                  "tls, tls_passthrough, udp, ws, wss"},
        ErrorCase{
            V3 "routes:\n  - name: api\n    paths: [/]\n    protocols: [http]\n    snis: [a.com]\n",
            "kong.yml:6: routes[0] (name 'api').snis: 'snis' can only be set when 'protocols' is 'grpcs', "
            "'https', 'tls' or 'tls_passthrough'"},
        ErrorCase{
            V3 "routes:\n  - name: api\n    headers:\n      Host: [a.com]\n",
            "kong.yml:5: routes[0] (name 'api').headers.host: cannot contain 'host' header, which must be "
            "specified in the 'hosts' attribute"},
        ErrorCase{V3 "routes:\n  - name: api\n    headers:\n      x-v: \"~*(bad\"\n",
                  "kong.yml:5: routes[0] (name 'api').headers.x-v: invalid regex '(bad': missing closing "
                  "parenthesis "
                  "at offset 4"},
        ErrorCase{V3 "routes:\n  - name: api\n    paths: [/]\n    path_handling: v2\n",
                  "kong.yml:5: routes[0] (name 'api').path_handling: expected one of: v0, v1"},
        ErrorCase{
            V3 "routes:\n  - name: api\n    paths: [/]\n    https_redirect_status_code: 303\n",
            "kong.yml:5: routes[0] (name 'api').https_redirect_status_code: expected one of: 301, 302, 307, "
            "308, 426"},
        ErrorCase{V3 "routes:\n  - name: api\n    paths: [/]\n    strip_path: maybe\n",
                  "kong.yml:5: routes[0] (name 'api').strip_path: expected a boolean, got 'maybe'"},
        ErrorCase{V3 "routes:\n  - name: api\n    paths: [/]\n    service: ghost\n",
                  "kong.yml:5: routes[0] (name 'api').service: references unknown service 'ghost'"},
        ErrorCase{V3 "routes:\n  - {name: r, paths: [/a]}\n  - {name: r, paths: [/b]}\n",
                  "kong.yml:4: routes[1] (name 'r').name: duplicate name 'r'"},
        ErrorCase{V3 "consumers:\n  - tags: [x]\n",
                  "kong.yml:3: consumers[0]: at least one of these fields must be non-empty: 'custom_id', "
                  "'username'"},
        ErrorCase{V3 "consumers:\n  - username: a\n  - username: a\n",
                  "kong.yml:4: consumers[1] (username 'a').username: duplicate username 'a'"},
        ErrorCase{V3 "plugins:\n  - config: {}\n", "kong.yml:3: plugins[0]: a plugin needs a 'name'"},
        ErrorCase{V3 "plugins:\n  - name: p\n    config: [1]\n",
                  "kong.yml:4: plugins[0] (name 'p').config: expected a mapping"},
        // Past a double's range: no JSON number to give the plugin (std::stod's out_of_range used
        // to escape the loader: kong_yml_fuzz, 2026-12-07).
        ErrorCase{V3 "plugins:\n  - name: p\n    config: {limit: 1e999}\n",
                  "kong.yml:4: plugins[0] (name 'p').config.limit: a number too large for a double"},
        ErrorCase{V3 "plugins:\n  - name: p\n    config:\n      list: [1, -1e400]\n",
                  "kong.yml:5: plugins[0] (name 'p').config.list[1]: a number too large for a double"},
        ErrorCase{
            V3 "plugins:\n  - name: p\n    protocols: [http, ftp]\n",
            "kong.yml:4: plugins[0] (name 'p').protocols[1]: expected one of: grpc, grpcs, http, https, tcp, "
            "tls, tls_passthrough, udp, ws, wss"},
        ErrorCase{V3 "plugins:\n  - name: p\n    route: nowhere\n",
                  "kong.yml:4: plugins[0] (name 'p').route: references unknown route 'nowhere'"},
        ErrorCase{V3 "plugins:\n  - name: p\n    consumer: nobody\n",
                  "kong.yml:4: plugins[0] (name 'p').consumer: references unknown consumer 'nobody'"},
        ErrorCase{V3 "plugins:\n  - name: p\n  - name: p\n",
                  "kong.yml:4: plugins[1] (name 'p'): duplicate plugin 'p' for the same "
                  "service/route/consumer scope"},
        ErrorCase{
            V3
            "services:\n  - name: s\n    url: http://x\n    plugins:\n      - name: p\n        service: s\n",
            "kong.yml:6: services[0] (name 's').plugins[0] (name 'p'): a nested plugin cannot reference the "
            "entity it is nested under"},
        ErrorCase{V3 "upstreams:\n  - name: u\n    targets:\n      - target: a:0\n",
                  "kong.yml:5: upstreams[0] (name 'u').targets[0].target: invalid port in target 'a:0'"},
        ErrorCase{
            V3 "upstreams:\n  - name: u\n    targets:\n      - target: a\n        weight: 70000\n",
            "kong.yml:6: upstreams[0] (name 'u').targets[0].weight: value should be between 0 and 65535"},
        ErrorCase{
            V3 "upstreams:\n  - name: u\n    algorithm: random\n",
            "kong.yml:4: upstreams[0] (name 'u').algorithm: expected one of: consistent-hashing, latency, "
            "least-connections, round-robin"},
        ErrorCase{V3 "targets:\n  - target: a:1\n    upstream: missing\n",
                  "kong.yml:4: targets[0].upstream: references unknown upstream 'missing'"},
        ErrorCase{V3 "certificates:\n  - cert: nope\n    key: nope\n",
                  "kong.yml:3: certificates[0].cert: expected a PEM block"},
        ErrorCase{V3 "certificates:\n  - key: x\n",
                  "kong.yml:3: certificates[0]: a certificate needs 'cert'"},
        ErrorCase{V3 "certificates:\n  - cert: \"-----BEGIN C\"\n    key: \"-----BEGIN K\"\n    snis: "
                     "[a.com, A.com]\n",
                  "kong.yml:5: certificates[0].snis[1]: duplicate SNI 'a.com'"}));

TEST(DeclarativeCredentials, NestedAndTopLevelLoadIntoOneIndex) {
  auto d = parse_declarative(V3 R"(
consumers:
  - username: alice
    custom_id: a-1
    keyauth_credentials:
      - key: alice-key
        ttl: 60
    acls:
      - group: admins
  - id: 5a3c0a8e-7d2b-4c9a-8e1f-2b3c4d5e6f70
    username: bob
keyauth_credentials:
  - consumer: bob
    key: bob-key
basicauth_credentials:
  - consumer: {id: 5a3c0a8e-7d2b-4c9a-8e1f-2b3c4d5e6f70}
    username: bob
    password: s3cret
jwt_secrets:
  - consumer: alice
    key: alice-iss
    secret: shh
acls:
  - consumer: bob
    group: users
  - consumer: alice
    group: users
)",
                             "kong.yml");
  const auto& alice = *d.find_consumer_by_username("alice");
  const auto& bob = *d.find_consumer("5a3c0a8e-7d2b-4c9a-8e1f-2b3c4d5e6f70");
  EXPECT_EQ(bob.username, "bob");
  ASSERT_NE(d.credentials.find_key("alice-key"), nullptr);
  EXPECT_EQ(d.credentials.find_key("alice-key")->consumer_id, alice.id);
  EXPECT_GT(d.credentials.find_key("alice-key")->expires_at, 0);
  EXPECT_EQ(d.credentials.find_key("bob-key")->consumer_id, bob.id);
  EXPECT_EQ(d.credentials.find_key("bob-key")->expires_at, 0);
  EXPECT_EQ(d.credentials.find_key("nobody"), nullptr);
  const auto* basic = d.credentials.find_basic("bob");
  ASSERT_NE(basic, nullptr);
  EXPECT_EQ(basic->password_hash, basic_auth_password_hash(bob.id, "s3cret"));
  EXPECT_EQ(basic->password_hash.find("s3cret"), std::string::npos);
  EXPECT_EQ(d.credentials.find_jwt("alice-iss")->secret, "shh");
  EXPECT_EQ(d.credentials.find_jwt("alice-iss")->algorithm, "HS256");
  EXPECT_EQ(d.credentials.groups_of(alice.id), (std::vector<std::string>{"admins", "users"}));
  EXPECT_EQ(d.credentials.groups_of(bob.id), std::vector<std::string>{"users"});
  EXPECT_TRUE(d.credentials.groups_of("nobody").empty());
  EXPECT_EQ(d.find_consumer_by_username("carol"), nullptr);
}

TEST(DeclarativeCredentials, PasswordsHashAsKongDoesUnlessTransformIsOff) {
  // Kong's crypto.lua: sha1(password .. consumer_id), lower-case hex.
  EXPECT_EQ(basic_auth_password_hash("id", "pw"), "4a04e910b25434f310c9f155a1e144d3ddc065a0");
  auto d = parse_declarative(V3
                             "_transform: false\nconsumers:\n  - username: a\n    basicauth_credentials:\n"
                             "      - {username: u, password: 0123abcd}\n",
                             "kong.yml");
  EXPECT_EQ(d.credentials.find_basic("u")->password_hash, "0123abcd");
}

TEST(DeclarativeCredentials, MissingKeysAndSecretsAreGeneratedAsKongDoes) {
  auto d = parse_declarative(V3
                             "consumers:\n  - username: a\n    keyauth_credentials: [{}]\n"
                             "    jwt_secrets: [{}]\n",
                             "kong.yml");
  ASSERT_EQ(d.credentials.keyauth().size(), 1u);
  EXPECT_EQ(d.credentials.keyauth()[0].key.size(), 32u);
  EXPECT_EQ(d.credentials.jwt()[0].key.size(), 32u);
  EXPECT_EQ(d.credentials.jwt()[0].secret.size(), 32u);
  EXPECT_NE(d.credentials.jwt()[0].key, d.credentials.jwt()[0].secret);
}

TEST(Declarative, APluginNumberTooSmallForADoubleIsItsNearest) {
  auto d =
      parse_declarative(V3 "plugins:\n  - name: p\n    config: {tiny: 1e-400, big: 1e300}\n", "kong.yml");
  ASSERT_EQ(d.plugins.size(), 1u);
  EXPECT_EQ(d.plugins[0].config["tiny"], 0.0);
  EXPECT_EQ(d.plugins[0].config["big"], 1e300);
}

TEST(Declarative, UnreadableFileIsAConfigError) {
  TempDir dir;
  try {
    load_declarative(dir.path() + "/absent.yml");
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir.path() + "/absent.yml: cannot open declarative configuration");
  }
}

TEST(Declarative, AFileThatNeverEndsIsRefusedWithoutBeingReadWhole) {
  try {
    load_declarative("/dev/zero");
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "/dev/zero: larger than the " + std::to_string(YamlLimits{}.max_bytes) +
                                         " bytes gatehouse accepts for a declarative configuration");
  }
}

TEST(Declarative, LoadConfigurationFollowsDeclarativeConfigProperty) {
  auto c = load_configuration(fixture("gatehouse.conf"), {});
  EXPECT_EQ(c.declarative.services.size(), 2u);
  EXPECT_EQ(c.properties.worker_threads, 3);
  TempDir dir;
  auto conf = dir.write("g.conf", "declarative_config = broken.yml\n");
  dir.write("broken.yml", "_format_version: \"3.0\"\nroutes:\n  - name: x\n    paths: [nope]\n");
  try {
    load_configuration(conf, {});
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir.path() +
                                         "/broken.yml:4: routes[0] (name 'x').paths[0]: must start with "
                                         "'/' or '~'");
  }
}

TEST(Declarative, EveryBrokenEntityIsReportedOneLineEach) {
  auto error = error_of(
      "_format_version: \"3.0\"\n"
      "services:\n"
      "  - name: a\n"
      "    url: nope\n"
      "  - name: b\n"
      "    host: x\n"
      "    routes:\n"
      "      - name: r\n"
      "        paths: [bad]\n"
      "      - name: s\n"
      "        paths: [/ok]\n"
      "        methods: [get]\n");
  EXPECT_EQ(
      error,
      "kong.yml:4: services[0] (name 'a').url: invalid URL 'nope' (expected scheme://host[:port][/path])\n"
      "kong.yml:9: services[1] (name 'b').routes[0] (name 'r').paths[0]: must start with '/' or '~'\n"
      "kong.yml:12: services[1] (name 'b').routes[1] (name 's').methods[0]: invalid method 'get': must be "
      "upper-case letters");
  std::string many = "_format_version: \"3.0\"\nservices:\n";
  for (int i = 0; i < 150; ++i) many += "  - url: nope\n";
  error = error_of(many);
  EXPECT_NE(error.find("(stopped after 100 errors)"), std::string::npos);
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 100);
}

}  // namespace
}  // namespace gh::conf
