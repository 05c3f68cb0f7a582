// Every Kong& method through the test kit (same protobuf encoding as on the socket), and the test
// kit's own request flow. The last test checks the methods called cover every rpc of the .proto.
#include <gatehouse/pdk/testkit.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

namespace pdk = gatehouse::pdk;
using pdk::testing::Gateway;

namespace {

// All PDK methods called by the tests of this file (checked against the .proto at the end).
std::set<std::string>& methods_called() {
  static std::set<std::string> called;
  return called;
}

// Those of them that Kong& made as writes (Channel::write, batched without a reply by Gatehouse:1).
std::set<std::string>& methods_written() {
  static std::set<std::string> written;
  return written;
}

class Kit : public ::testing::Test {
 protected:
  void TearDown() override {
    methods_called().insert(gw.calls.begin(), gw.calls.end());
    methods_written().insert(gw.writes.begin(), gw.writes.end());
  }
  Gateway gw;
  pdk::Kong& kong = gw.kong();
};

TEST_F(Kit, Client) {
  gw.client.ip = "10.0.0.1";
  gw.client.forwarded_ip = "203.0.113.9";
  gw.client.port = 5555;
  gw.client.forwarded_port = 443;
  gw.client.protocol = "https";
  gw.consumers = {{"c-1", 17, "bob", "cust", {"t"}}};
  EXPECT_EQ(kong.client.get_ip(), "10.0.0.1");
  EXPECT_EQ(kong.client.get_forwarded_ip(), "203.0.113.9");
  EXPECT_EQ(kong.client.get_port(), 5555);
  EXPECT_EQ(kong.client.get_forwarded_port(), 443);
  EXPECT_EQ(kong.client.get_protocol(true), "https");
  EXPECT_EQ(kong.client.get_consumer(), std::nullopt);
  EXPECT_EQ(kong.client.get_credential(), std::nullopt);
  EXPECT_EQ(kong.client.load_consumer("bob", true), gw.consumers[0]);
  EXPECT_EQ(kong.client.load_consumer("c-1"), gw.consumers[0]);
  EXPECT_EQ(kong.client.load_consumer("bob"), std::nullopt);  // not an id
  kong.client.authenticate(gw.consumers[0], pdk::Credential{"cred-1", "c-1"});
  EXPECT_EQ(kong.client.get_consumer(), gw.consumers[0]);
  EXPECT_EQ(kong.client.get_credential(), (pdk::Credential{"cred-1", "c-1"}));
}

TEST_F(Kit, CtxIpAndNode) {
  kong.ctx.shared.set("user", "alice");
  kong.ctx.shared.set("score", 7.5);
  kong.ctx.shared.set("nested", pdk::Value{{"a", {1, 2}}, {"b", true}});
  EXPECT_EQ(kong.ctx.shared.get("user"), "alice");
  EXPECT_EQ(kong.ctx.shared.get_number("score"), 7.5);
  EXPECT_EQ(kong.ctx.shared.get("nested"), (pdk::Value{{"a", {1.0, 2.0}}, {"b", true}}));
  EXPECT_TRUE(kong.ctx.shared.get("missing").is_null());
  EXPECT_THROW(kong.ctx.shared.get_string("score"), pdk::PdkError);
  gw.client.trusted_ips = {"198.51.100.7"};
  EXPECT_TRUE(kong.ip.is_trusted("198.51.100.7"));
  EXPECT_FALSE(kong.ip.is_trusted("192.0.2.1"));
  gw.memory_stats.kong = {3, 5};
  gw.memory_stats.workers_lua_vms = {{100, 42}};
  EXPECT_EQ(kong.node.get_id(), gw.node_id);
  EXPECT_EQ(kong.node.get_memory_stats(), gw.memory_stats);
}

TEST_F(Kit, LogAndNginx) {
  kong.log.alert("a");
  kong.log.crit("c");
  kong.log.err("count=", 3, " ratio=", 0.5);
  kong.log.warn("w");
  kong.log.notice("n");
  kong.log.info("i");
  kong.log.debug("d");
  EXPECT_EQ(gw.log_messages("err"), std::vector<std::string>{"count=3 ratio=0.5"});
  EXPECT_EQ(gw.logs.size(), 7u);
  kong.log.set_serialize_value("request.tag", "x");
  EXPECT_EQ(pdk::Value::parse(kong.log.serialize())["request"]["tag"], "x");

  gw.nginx_vars["request_id"] = "rid";
  gw.tls1_version = "TLSv1.3";
  EXPECT_EQ(kong.nginx.get_var("request_id"), "rid");
  EXPECT_EQ(kong.nginx.get_var("nope"), "");
  EXPECT_EQ(kong.nginx.get_tls1_version_str(), "TLSv1.3");
  kong.nginx.set_ctx("KONG_ACCESS_START", 1234.5);
  EXPECT_EQ(kong.nginx.get_ctx("KONG_ACCESS_START"), 1234.5);
  EXPECT_EQ(kong.nginx.req_start_time(), gw.start_time);
  EXPECT_EQ(kong.nginx.get_subsystem(), "http");
}

TEST_F(Kit, Request) {
  gw.request = {};
  gw.request.scheme = "https";
  gw.request.host = "api.test";
  gw.request.port = 8443;
  gw.request.method = "POST";
  gw.request.path = "/items";
  gw.request.raw_query = "tag=a&tag=b&color=blue&debug";
  gw.request.headers = {{"host", {"api.test"}}, {"x-multi", {"1", "2"}}};
  gw.request.body = "{\"a\":1}";
  gw.request.forwarded_host = "public.test";
  gw.request.uri_captures = {{"items"}, {{"id", "7"}}};
  EXPECT_EQ(kong.request.get_scheme(), "https");
  EXPECT_EQ(kong.request.get_host(), "api.test");
  EXPECT_EQ(kong.request.get_port(), 8443);
  EXPECT_EQ(kong.request.get_forwarded_scheme(), "https");
  EXPECT_EQ(kong.request.get_forwarded_host(), "public.test");
  EXPECT_EQ(kong.request.get_forwarded_port(), 8443);
  EXPECT_EQ(kong.request.get_http_version(), 1.1);
  EXPECT_EQ(kong.request.get_method(), "POST");
  EXPECT_EQ(kong.request.get_path(), "/items");
  EXPECT_EQ(kong.request.get_path_with_query(), "/items?tag=a&tag=b&color=blue&debug");
  EXPECT_EQ(kong.request.get_raw_query(), "tag=a&tag=b&color=blue&debug");
  EXPECT_EQ(kong.request.get_query_arg("color"), "blue");
  EXPECT_EQ(kong.request.get_query(),
            (pdk::Headers{{"color", {"blue"}}, {"debug", {}}, {"tag", {"a", "b"}}}));
  EXPECT_EQ(kong.request.get_header("X-Multi"), "1");
  EXPECT_EQ(kong.request.get_headers(1), (pdk::Headers{{"host", {"api.test"}}}));
  EXPECT_EQ(kong.request.get_raw_body(), "{\"a\":1}");
  gw.request.body_error = "request body did not fit";
  EXPECT_THROW(kong.request.get_raw_body(), pdk::PdkError);
  EXPECT_EQ(kong.request.get_uri_captures(), gw.request.uri_captures);
}

TEST_F(Kit, Response) {
  kong.response.set_status(202);
  EXPECT_EQ(kong.response.get_status(), 202);
  kong.response.set_header("X-One", "1");
  kong.response.add_header("x-two", "a");
  kong.response.add_header("x-two", "b");
  kong.response.set_headers({{"X-Three", {"3"}}});
  kong.response.clear_header("x-one");
  EXPECT_EQ(kong.response.get_header("X-Two"), "a");
  EXPECT_EQ(kong.response.get_headers(), (pdk::Headers{{"x-three", {"3"}}, {"x-two", {"a", "b"}}}));
  EXPECT_EQ(kong.response.get_source(), "service");
  kong.response.exit(403, "no", {{"X-Reason", {"policy"}}});
  EXPECT_TRUE(gw.response.exited);
  EXPECT_EQ(gw.response.status, 403);
  EXPECT_EQ(gw.response.body, "no");
  EXPECT_EQ(gw.response.header("x-reason"), "policy");
  // Like go-pdk after exit: the connection is gone for the rest of the handler.
  EXPECT_THROW(kong.response.get_status(), pdk::PdkError);
}

TEST_F(Kit, RouterAndService) {
  EXPECT_EQ(kong.router.get_route(), std::nullopt);
  pdk::Route route;
  route.id = "r-1";
  route.paths = {"/"};
  route.service_id = "s-1";
  pdk::Service service;
  service.id = "s-1";
  service.host = "backend";
  service.port = 9000;
  gw.route = route;
  gw.service = service;
  EXPECT_EQ(kong.router.get_route(), route);
  EXPECT_EQ(kong.router.get_service(), service);

  gw.upstreams = {"pool"};
  EXPECT_TRUE(kong.service.set_upstream("pool"));
  EXPECT_FALSE(kong.service.set_upstream("no-such-upstream"));
  kong.service.set_target("10.1.1.1", 8080);
  kong.service.request.set_scheme("http");
  kong.service.request.set_path("/v2");
  kong.service.request.set_raw_query("a=1");
  kong.service.request.set_method("PUT");
  kong.service.request.set_header("X-A", "1");
  kong.service.request.add_header("x-a", "2");
  kong.service.request.set_headers({{"x-b", {"3"}}});
  kong.service.request.clear_header("x-b");
  kong.service.request.set_raw_body("payload");
  EXPECT_EQ(gw.upstream.upstream_name, "pool");
  EXPECT_EQ(gw.upstream.host, "10.1.1.1");
  EXPECT_EQ(gw.upstream.port, 8080);
  EXPECT_EQ(gw.upstream.scheme, "http");
  EXPECT_EQ(gw.upstream.path, "/v2");
  EXPECT_EQ(gw.upstream.raw_query, "a=1");
  EXPECT_EQ(gw.upstream.method, "PUT");
  EXPECT_EQ(gw.upstream.headers.at("x-a"), (std::vector<std::string>{"1", "2"}));
  EXPECT_FALSE(gw.upstream.headers.has("x-b"));
  EXPECT_EQ(gw.upstream.body, "payload");
  kong.service.request.set_query({{"page", {"1", "2"}}});
  EXPECT_EQ(gw.upstream.raw_query, "page=1&page=2");

  gw.service_response.status = 201;
  gw.service_response.headers = {{"content-type", {"text/plain"}}};
  gw.service_response.body = "hello";
  EXPECT_EQ(kong.service.response.get_status(), 201);
  EXPECT_EQ(kong.service.response.get_header("Content-Type"), "text/plain");
  EXPECT_EQ(kong.service.response.get_headers(), (pdk::Headers{{"content-type", {"text/plain"}}}));
  EXPECT_EQ(kong.service.response.get_raw_body(), "hello");
}

struct Rejecter {
  std::string token;
  static auto fields() { return pdk::schema_fields(pdk::field("token", &Rejecter::token).required()); }
  void access(pdk::Kong& kong) {
    if (kong.request.get_header("x-token") != token) kong.response.exit(401, "denied");
  }
  void response(pdk::Kong& kong) { kong.response.set_header("x-seen", kong.service.response.get_raw_body()); }
  void log(pdk::Kong& kong) { kong.log.info("status ", kong.response.get_status()); }
};

TEST(TestKitFlow, RunRequestStopsAtExitButStillLogs) {
  auto config = pdk::testing::config<Rejecter>({{"token", "s3cret"}});
  Gateway gw;
  gw.service_response.body = "upstream";
  gw.run_request(config);
  EXPECT_EQ(gw.response.status, 401);
  EXPECT_EQ(gw.response.body, "denied");
  EXPECT_FALSE(gw.response.headers.has("x-seen"));  // no response phase after an exit
  EXPECT_EQ(gw.log_messages("info"), std::vector<std::string>{"status 401"});
}

TEST(TestKitFlow, RunRequestProxiesAndRunsResponse) {
  auto config = pdk::testing::config<Rejecter>({{"token", "s3cret"}});
  Gateway gw;
  gw.request.headers["x-token"] = {"s3cret"};
  gw.service_response.status = 201;
  gw.service_response.body = "upstream";
  gw.run_request(config);
  EXPECT_EQ(gw.response.status, 201);
  EXPECT_EQ(gw.response.header("x-seen"), "upstream");
  EXPECT_EQ(gw.log_messages("info"), std::vector<std::string>{"status 201"});
  EXPECT_THROW(pdk::testing::config<Rejecter>(), pdk::ConfigError);  // token is required
}

// Kong's rule (kong-gateway-side.md §6.5): Kong.<Rpc> -> "_"→".", "_" before an upper-case letter
// that follows a lower-case one (plus digits), lower-cased; or the MethodName option.
std::set<std::string> proto_method_names() {
  std::ifstream in(std::string(PDK_PROTO_FILE));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::set<std::string> names;
  std::regex rpc(R"re(rpc (\w+)\([^)]*\) returns \([^)]*\)\s*(\{\s*option \(MethodName\) = "([^"]+)")?)re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), rpc); it != std::sregex_iterator(); ++it) {
    if ((*it)[3].matched) {
      names.insert((*it)[3]);
      continue;
    }
    std::string name = std::regex_replace("Kong." + (*it)[1].str(), std::regex("_"), ".");
    name = std::regex_replace(name, std::regex("([a-z][0-9]*)([A-Z])"), "$1_$2");
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names.insert(name);
  }
  return names;
}

// Gatehouse:1 (docs/protocol.md): a write gets no reply, so Kong& may make a call a write only if
// the .proto answers it with google.protobuf.Empty, and should for every such method (but exit).
TEST(ZZCoverage, WritesAreExactlyTheEmptyAnsweredRpcs) {
  std::ifstream in(std::string(PDK_PROTO_FILE));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::set<std::string> empty_answered;
  std::regex rpc(R"re(rpc (\w+)\([^)]*\) returns \(google\.protobuf\.Empty\))re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), rpc); it != std::sregex_iterator(); ++it) {
    std::string name = std::regex_replace("Kong." + (*it)[1].str(), std::regex("_"), ".");
    name = std::regex_replace(name, std::regex("([a-z][0-9]*)([A-Z])"), "$1_$2");
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    empty_answered.insert(name);
  }
  empty_answered.erase("kong.response.exit");   // Channel::exit
  empty_answered.erase("kong.ctx.set_shared");  // Ctx_SetShared's MethodName option renames it
  empty_answered.insert("kong.ctx.shared.set");
  EXPECT_EQ(methods_written(), empty_answered);
}

TEST(ZZCoverage, EveryProtoRpcWasCalled) {
  auto expected = proto_method_names();
  EXPECT_EQ(expected.size(), 74u);
  std::set<std::string> missing;
  for (const auto& name : expected)
    if (!methods_called().count(name)) missing.insert(name);
  EXPECT_TRUE(missing.empty()) << "not exercised: " << ::testing::PrintToString(missing);
}

}  // namespace
