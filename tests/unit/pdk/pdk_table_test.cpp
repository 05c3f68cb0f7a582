// The PDK table function by function, on a real RequestContext: results and their Step variants,
// phase restrictions, argument errors and header-injection refusal.
#include <gtest/gtest.h>

#include "metrics/metrics.h"
#include "pdk/kong.h"
#include "pdk/serialize.h"
#include "pdk/table.h"
#include "pdk_fixture.h"

namespace gh::pdk::testing {
namespace {

using Status = PdkResult::Status;

// The MsgPack Step variant the table gives a function's results.
std::string_view table_step(std::string_view method) {
  return step_of(find_pdk_function(method));
}

json ok_value(Fixture& f, std::string_view method, json args = json::array()) {
  PdkResult r = f.call(method, std::move(args));
  EXPECT_EQ(r.status, Status::ok) << method << ": " << r.error;
  return r.value;
}

void expect_error(Fixture& f, std::string_view method, json args, std::string_view needle) {
  PdkResult r = f.call(method, std::move(args));
  EXPECT_EQ(r.status, Status::error) << method;
  EXPECT_NE(r.error.find(needle), std::string::npos) << method << ": " << r.error;
}

void expect_nil(Fixture& f, std::string_view method, json args = json::array()) {
  PdkResult r = f.call(method, std::move(args));
  EXPECT_EQ(r.status, Status::nil) << method << ": " << r.error;
}

std::string binary_text(const json& v) {
  EXPECT_TRUE(v.is_binary());
  return v.is_binary() ? std::string(v.get_binary().begin(), v.get_binary().end()) : "";
}

TEST(PdkTable, UnknownMethodIsAnErrorNotACrash) {
  Fixture f;
  expect_error(f, "kong.request.get_nonexistent_thing", json::array({"x"}),
               "method 'kong.request.get_nonexistent_thing' is not supported");
  expect_error(f, "", json::array(), "not supported");
  expect_error(f, "kong.cache.get", json(nullptr), "not supported");
}

TEST(PdkTable, SupportedMethodsAreSortedAndUnique) {
  auto names = supported_methods();
  EXPECT_GT(names.size(), 90u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

TEST(PdkTable, JsMangledTlsAliasIsAccepted) {
  Fixture f;
  expect_nil(f, "kong.nginx.get_tls1Version_str");
  expect_nil(f, "kong.nginx.get_tls1_version_str");
}

TEST(PdkTable, NonArrayArgumentsAreTolerated) {
  Fixture f;
  EXPECT_EQ(ok_value(f, "kong.request.get_method", json(nullptr)), "POST");
  expect_error(f, "kong.request.get_header", json("host"), "header name must be a string");
}

// Calls are counted in the tallies the handler was given, in their registry alone (two
// gateways in one process count apart); a handler without tallies counts nothing.
TEST(PdkTable, CallsAreCountedInTheGivenRegistryOnly) {
  metrics::Registry mine, other;
  PdkTallies tallies(mine);
  PdkTallies unused(other);
  Fixture f;
  ok_value(f, "kong.request.get_method");  // no tallies: not counted
  f.tallies = &tallies;
  ok_value(f, "kong.request.get_method");
  ok_value(f, "kong.request.get_method");
  std::string out, nothing;
  metrics::render(out, mine.families());
  metrics::render(nothing, other.families());
  EXPECT_NE(out.find("gatehouse_pdk_method_calls_total{method=\"kong.request.get_method\"} 2\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(nothing, "");
}

// ---- kong.request ----

TEST(Request, RequestLine) {
  Fixture f;
  EXPECT_EQ(ok_value(f, "kong.request.get_scheme"), "https");
  EXPECT_EQ(ok_value(f, "kong.request.get_host"), "api.example.test");
  EXPECT_EQ(ok_value(f, "kong.request.get_port"), 8443);
  EXPECT_EQ(ok_value(f, "kong.request.get_method"), "POST");
  EXPECT_EQ(ok_value(f, "kong.request.get_path"), "/api/v1/items");
  EXPECT_EQ(ok_value(f, "kong.request.get_raw_query"), "color=blue&size=10&tag=a&tag=b&debug");
  EXPECT_EQ(ok_value(f, "kong.request.get_path_with_query"),
            "/api/v1/items?color=blue&size=10&tag=a&tag=b&debug");
  json version = ok_value(f, "kong.request.get_http_version");
  EXPECT_TRUE(version.is_number_float());
  EXPECT_DOUBLE_EQ(version.get<double>(), 1.1);
}

TEST(Request, PathIsNormalizedRawPathIsNot) {
  Fixture f;
  f.request.target = "/api/v1//x/../items%7e?q=1";
  EXPECT_EQ(ok_value(f, "kong.request.get_path"), "/api/v1/items~");
  EXPECT_EQ(ok_value(f, "kong.request.get_raw_path"), "/api/v1//x/../items%7e");
}

TEST(Request, QueryShapes) {
  Fixture f;
  f.request.target = "/p?a=1&b=x%20y&b=z&flag&empty=&plus=a+b&=skipped";
  PdkResult q = f.call("kong.request.get_query");
  EXPECT_EQ(table_step("kong.request.get_query"), "plugin.StepMultiMap");
  EXPECT_EQ(q.value, json({{"a", "1"}, {"b", {"x y", "z"}}, {"flag", true}, {"empty", ""}, {"plus", "a b"}}));
  EXPECT_EQ(ok_value(f, "kong.request.get_query", {2}), json({{"a", "1"}, {"b", "x y"}}));
  EXPECT_EQ(ok_value(f, "kong.request.get_query_arg", {"b"}), "x y");
  EXPECT_EQ(ok_value(f, "kong.request.get_query_arg", {"flag"}), true);
  expect_nil(f, "kong.request.get_query_arg", {"missing"});
  expect_error(f, "kong.request.get_query", {0}, "max_args must be >= 1");
  expect_error(f, "kong.request.get_query", {1001}, "max_args must be <= 1000");
  expect_error(f, "kong.request.get_query", {"x"}, "max_args must be a number");
}

TEST(Request, Headers) {
  Fixture f;
  EXPECT_EQ(ok_value(f, "kong.request.get_header", {"HOST"}), "api.example.test");
  EXPECT_EQ(ok_value(f, "kong.request.get_header", {"x_multi"}), "one");
  expect_nil(f, "kong.request.get_header", {"authorization"});
  PdkResult all = f.call("kong.request.get_headers");
  EXPECT_EQ(table_step("kong.request.get_headers"), "plugin.StepMultiMap");
  EXPECT_EQ(all.value["x-multi"], json({"one", "two"}));
  EXPECT_EQ(all.value["user-agent"], "conform-client/1.0");
  EXPECT_EQ(ok_value(f, "kong.request.get_headers", {1}), json({{"host", "api.example.test"}}));
}

TEST(Request, RawBodyIsBinaryAndReadOnce) {
  Fixture f;
  EXPECT_EQ(binary_text(ok_value(f, "kong.request.get_raw_body")), kRequestBody);
  EXPECT_EQ(f.body_reads, 1);
  f.ctx.buffered_request_body = "buffered";
  EXPECT_EQ(binary_text(ok_value(f, "kong.request.get_raw_body")), "buffered");
  EXPECT_EQ(f.body_reads, 1);
}

TEST(Request, RawBodyTooLargeIsKongsError) {
  Fixture f;
  f.body_too_large = true;
  expect_error(f, "kong.request.get_raw_body", json::array(), "client_body_buffer_size");
}

// Over client_body_buffer_size the body is in a file and never sent whole: Kong's error, with
// the file's path for ProtoBuf's RawBodyResult.body_filepath. get_body fails the same way.
TEST(Request, RawBodyInAFileIsKongsErrorWithThePath) {
  Fixture f;
  f.body_file = "/prefix/client_body_temp/body.Xy12Zw";
  PdkResult raw = f.call("kong.request.get_raw_body");
  ASSERT_EQ(raw.status, PdkResult::Status::error);
  EXPECT_EQ(raw.error,
            "request body did not fit into client body buffer, consider raising 'client_body_buffer_size'");
  EXPECT_EQ(raw.value, json({{"body_filepath", "/prefix/client_body_temp/body.Xy12Zw"}}));
  expect_error(f, "kong.request.get_body", json::array(), "client_body_buffer_size");
  EXPECT_EQ(f.body_reads, 1);
}

TEST(Request, NoBodyIsEmptyString) {
  Fixture f;
  f.request.content_length.reset();
  EXPECT_EQ(binary_text(ok_value(f, "kong.request.get_raw_body")), "");
  EXPECT_EQ(f.body_reads, 0);
}

TEST(Request, GetBodyParsesJsonAndForms) {
  Fixture f;
  EXPECT_EQ(ok_value(f, "kong.request.get_body"), json({{"item", "widget"}, {"qty", 2}}));
  f.ctx.buffered_request_body = "a=1&b=2&b=3";
  EXPECT_EQ(ok_value(f, "kong.request.get_body", {"application/x-www-form-urlencoded"}),
            json({{"a", "1"}, {"b", {"2", "3"}}}));
  expect_nil(f, "kong.request.get_body", {"text/plain"});
}

TEST(Request, ForwardedValuesNeedATrustedPeer) {
  Fixture trusted("access", /*forwarded=*/true);
  EXPECT_EQ(ok_value(trusted, "kong.request.get_forwarded_scheme"), "https");
  EXPECT_EQ(ok_value(trusted, "kong.request.get_forwarded_host"), "public.example.test");
  EXPECT_EQ(ok_value(trusted, "kong.request.get_forwarded_port"), 443);
  EXPECT_EQ(ok_value(trusted, "kong.request.get_forwarded_path"), "/public/api/v1/items");
  EXPECT_EQ(ok_value(trusted, "kong.request.get_forwarded_prefix"), "/public");

  Fixture untrusted("access", /*forwarded=*/true);
  untrusted.snapshot->properties.trusted_ips.clear();
  EXPECT_EQ(ok_value(untrusted, "kong.request.get_forwarded_host"), "api.example.test");
  EXPECT_EQ(ok_value(untrusted, "kong.request.get_forwarded_port"), 8443);
  EXPECT_EQ(ok_value(untrusted, "kong.request.get_forwarded_path"), "/api/v1/items");
  expect_nil(untrusted, "kong.request.get_forwarded_prefix");  // strip_path is off
}

TEST(Request, UriCapturesAndStartTime) {
  Fixture f;
  // The router keeps the whole match at index 0; Kong's `unnamed` starts at the first group.
  f.ctx.match->captures_unnamed = {"/api/v1/items", "items"};
  f.ctx.match->captures_named = {{"what", "items"}};
  EXPECT_EQ(ok_value(f, "kong.request.get_uri_captures"),
            json({{"unnamed", {"items"}}, {"named", {{"what", "items"}}}}));
  json start = ok_value(f, "kong.request.get_start_time");
  EXPECT_TRUE(start.is_number_integer());
  EXPECT_GT(start.get<int64_t>(), 1'600'000'000'000);
}

// ---- kong.response ----

TEST(Response, HeadersRoundTrip) {
  Fixture f;
  EXPECT_EQ(f.call("kong.response.set_header", {"X-A", "1"}).status, Status::nil);
  f.call("kong.response.add_header", {"x-a", 2});  // JS sends numbers
  EXPECT_EQ(ok_value(f, "kong.response.get_header", {"x-a"}), "1");
  EXPECT_EQ(ok_value(f, "kong.response.get_headers")["x-a"], json({"1", "2"}));
  f.call("kong.response.set_headers", {{{"x-a", "3"}, {"x-b", {"4", "5"}}}});
  EXPECT_EQ(f.ctx.response.headers.get_all("x-a").size(), 1u);
  EXPECT_EQ(f.ctx.response.headers.get_all("x-b").size(), 2u);
  f.call("kong.response.clear_header", {"X-B"});
  EXPECT_FALSE(f.ctx.response.headers.has("x-b"));
  f.call("kong.response.set_status", {418});
  EXPECT_EQ(ok_value(f, "kong.response.get_status"), 418);
  EXPECT_EQ(ok_value(f, "kong.response.get_source"), "service");
}

TEST(Ctx, PluginTableIsATableBeforeAnythingIsStored) {
  // A log phase after the gateway answered before access (a 415 on a gRPC route): Kong's
  // kong.ctx.plugin is an empty table there, and reading it must not throw.
  Fixture f;
  f.plugin.phase = core::Phase::log;
  Kong kong(f.ctx, f.plugin);
  EXPECT_TRUE(kong.ctx.plugin().is_object());
  EXPECT_FALSE(kong.ctx.plugin().value("ran", false));
}

TEST(Response, InjectionIsRefusedAndNothingIsWritten) {
  Fixture f;
  expect_error(f, "kong.response.set_header", {"x-a", "v\r\nSet-Cookie: evil=1"}, "CR, LF or NUL");
  expect_error(f, "kong.response.add_header", {"x-a", std::string("v\0w", 3)}, "CR, LF or NUL");
  expect_error(f, "kong.response.set_header", {"x-a\r\nx-b", "v"}, "invalid header name");
  expect_error(f, "kong.response.set_header", {"x a", "v"}, "invalid header name");
  expect_error(f, "kong.response.set_headers", {{{"x-ok", "fine"}, {"x-bad", {"a", "b\nc"}}}},
               "CR, LF or NUL");
  expect_error(f, "kong.response.set_header", {"x-a", {{"k", "v"}}}, "expected array of string");
  expect_error(f, "kong.response.exit", {200, "x", {{"x-bad", "a\rb"}}}, "CR, LF or NUL");
  expect_error(f, "kong.service.request.set_header", {"x-a", "a\nb"}, "CR, LF or NUL");
  EXPECT_TRUE(f.ctx.response.headers.empty());  // not even the valid half of set_headers
  EXPECT_FALSE(f.ctx.upstream.headers.has("x-a"));
  EXPECT_EQ(f.ctx.response.source, "service");  // no exit was made
}

TEST(Response, ExitWithTableBodyIsJson) {
  Fixture f;
  PdkResult r = f.call("kong.response.exit", {401, {{"message", "no"}}, {{"WWW-Authenticate", "Basic"}}});
  EXPECT_EQ(r.status, Status::terminal);
  EXPECT_EQ(f.ctx.response.status, 401);
  EXPECT_EQ(json::parse(f.ctx.response.body), json({{"message", "no"}}));
  EXPECT_EQ(f.ctx.response.headers.get("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(f.ctx.response.headers.get("www-authenticate"), "Basic");
  EXPECT_EQ(f.ctx.response.source, "exit");
}

TEST(Response, ExitWithBinaryOrNoBody) {
  Fixture f;
  EXPECT_EQ(
      f.call("kong.response.exit", {200, json::binary({0x89, 0x50}), {{"Content-Type", "image/png"}}}).status,
      Status::terminal);
  EXPECT_EQ(f.ctx.response.body, "\x89P");
  EXPECT_EQ(f.ctx.response.headers.get("content-type"), "image/png");
  Fixture g;
  EXPECT_EQ(g.call("kong.response.exit", {204}).status, Status::terminal);
  EXPECT_EQ(g.ctx.response.body, "");
  expect_error(g, "kong.response.exit", {"200"}, "code must be a number");
  expect_error(g, "kong.response.exit", {600}, "between 0 and 599");
}

TEST(Response, ErrorUsesKongsDefaultMessages) {
  Fixture f;
  EXPECT_EQ(f.call("kong.response.error", {429}).status, Status::terminal);
  EXPECT_EQ(json::parse(f.ctx.response.body), json({{"message", "Too many requests"}}));
  Fixture g;
  g.call("kong.response.error", {403, "go away", {{"X-Why", "test"}}});
  EXPECT_EQ(g.ctx.response.status, 403);
  EXPECT_EQ(json::parse(g.ctx.response.body), json({{"message", "go away"}}));
  EXPECT_EQ(g.ctx.response.headers.get("x-why"), "test");
  expect_error(g, "kong.response.error", {302}, "between 400 and 599");
}

TEST(Response, WritersAreRefusedInTheLogPhase) {
  Fixture f("log");
  expect_error(f, "kong.response.set_header", {"x-a", "1"}, "cannot be called in log phase");
  expect_error(f, "kong.response.exit", {200}, "only in: rewrite, access, response");
  EXPECT_TRUE(f.ctx.response.headers.empty());
}

// ---- kong.service ----

TEST(Service, RequestRewrites) {
  Fixture f("rewrite");
  f.call("kong.service.request.set_scheme", {"http"});
  f.call("kong.service.request.set_path", {"/internal/items"});
  f.call("kong.service.request.set_method", {"PUT"});
  f.call("kong.service.request.set_raw_query", {"a=1"});
  f.call("kong.service.request.set_header", {"x-a", "1"});
  f.call("kong.service.request.add_header", {"x-a", "2"});
  f.call("kong.service.request.clear_header", {"user-agent"});
  f.call("kong.service.request.set_headers", {{{"x-b", "3"}}});
  f.call("kong.service.request.set_raw_body", {"BODY"});
  const auto& up = f.ctx.upstream;
  EXPECT_EQ(up.scheme, "http");
  EXPECT_EQ(up.path, "/internal/items");
  EXPECT_EQ(up.method, "PUT");
  EXPECT_EQ(up.query, "a=1");
  EXPECT_EQ(up.headers.get_all("x-a").size(), 2u);
  EXPECT_FALSE(up.headers.has("user-agent"));
  EXPECT_EQ(up.headers.get("x-b"), "3");
  EXPECT_EQ(up.body, "BODY");
  expect_error(f, "kong.service.request.set_scheme", {"ftp"}, "invalid scheme");
  expect_error(f, "kong.service.request.set_path", {"relative"}, "path must start with /");
  expect_error(f, "kong.service.request.set_path", {"/a b"}, "invalid character");
  expect_error(f, "kong.service.request.set_method", {"BREW"}, "invalid method");
  expect_error(f, "kong.service.request.set_raw_query", {"a=1\r\n"}, "invalid character");
}

TEST(Service, SetQueryEncodesLikeNgx) {
  Fixture f;
  f.call("kong.service.request.set_query",
         {{{"page", {"1", "2"}}, {"color", "red & blue"}, {"flag", true}, {"off", false}}});
  EXPECT_EQ(f.ctx.upstream.query, "color=red%20%26%20blue&flag&page=1&page=2");
  expect_error(f, "kong.service.request.set_query", {"a=1"}, "args must be a table");
}

TEST(Service, SetBodyJsonAndForm) {
  Fixture f;
  EXPECT_EQ(ok_value(f, "kong.service.request.set_body", {{{"a", 1}}, "application/json"}), true);
  EXPECT_EQ(json::parse(*f.ctx.upstream.body), json({{"a", 1}}));
  f.call("kong.service.request.set_body", {{{"a", "x y"}}, "application/x-www-form-urlencoded"});
  EXPECT_EQ(f.ctx.upstream.body, "a=x%20y");
  EXPECT_EQ(f.ctx.upstream.headers.get("content-type"), "application/x-www-form-urlencoded");
  expect_error(f, "kong.service.request.set_body", {{{"a", 1}}, "multipart/form-data"},
               "unsupported content type");
}

TEST(Service, TargetRetriesTimeoutsUpstream) {
  Fixture f;
  expect_nil(f, "kong.service.set_target", {"10.0.0.1", 9000});
  EXPECT_EQ(f.ctx.upstream.host, "10.0.0.1");
  EXPECT_EQ(f.ctx.upstream.port, 9000);
  expect_error(f, "kong.service.set_target", {"h", 70000}, "port must be an integer between 0 and 65535");
  expect_nil(f, "kong.service.set_retries", {3});
  EXPECT_EQ(f.ctx.upstream.retries, 3);
  expect_nil(f, "kong.service.set_timeouts", {100, 200, 300});
  EXPECT_EQ(f.ctx.upstream.read_timeout_ms, 300);
  expect_error(f, "kong.service.set_timeouts", {0, 1, 1}, "connect_timeout must be an integer between 1");
  expect_nil(f, "kong.service.set_upstream", {"no-such-upstream"});  // Kong 3.x drops the error
  EXPECT_EQ(f.ctx.upstream.host, "10.0.0.1");
  conf::Upstream pool;
  pool.name = "pool";
  f.snapshot->config.upstreams.push_back(pool);
  EXPECT_EQ(ok_value(f, "kong.service.set_upstream", {"pool"}), true);
  EXPECT_EQ(f.ctx.upstream.host, "pool");
  EXPECT_EQ(ok_value(f, "kong.service.set_tls_verify", {false}), true);
  EXPECT_EQ(f.ctx.upstream.tls_verify, false);
}

TEST(Service, RequestWritersOnlyBeforeProxying) {
  Fixture f("response");
  expect_error(f, "kong.service.request.set_header", {"x-a", "1"}, "only in: rewrite, access");
  expect_error(f, "kong.service.set_target", {"h", 1}, "cannot be called in response phase");
}

TEST(Service, ResponseReadsTheBufferedUpstreamResponse) {
  Fixture f("response");
  f.with_service_response();
  EXPECT_EQ(ok_value(f, "kong.service.response.get_status"), 201);
  EXPECT_EQ(ok_value(f, "kong.service.response.get_header", {"X-Upstream"}), "items-v2");
  PdkResult h = f.call("kong.service.response.get_headers");
  EXPECT_EQ(table_step("kong.service.response.get_headers"), "plugin.StepMultiMap");
  EXPECT_EQ(h.value["set-cookie"], json({"a=1; Path=/", "b=2; Path=/"}));
  EXPECT_EQ(binary_text(ok_value(f, "kong.service.response.get_raw_body")), R"({"id":42,"item":"widget"})");
  EXPECT_EQ(ok_value(f, "kong.service.response.get_body"), json({{"id", 42}, {"item", "widget"}}));
  Fixture access("access");
  expect_error(access, "kong.service.response.get_status", json::array(), "only in: response, log");
  Fixture unbuffered("response");
  expect_nil(unbuffered, "kong.service.response.get_status");
  expect_error(unbuffered, "kong.service.response.get_raw_body", json::array(), "no upstream response");
}

// ---- kong.client, kong.router ----

TEST(Client, AddressesAndPorts) {
  Fixture f;
  EXPECT_EQ(ok_value(f, "kong.client.get_ip"), "192.0.2.10");
  EXPECT_EQ(ok_value(f, "kong.client.get_forwarded_ip"), "198.51.100.7");
  EXPECT_EQ(ok_value(f, "kong.client.get_port"), 53211);
  EXPECT_EQ(ok_value(f, "kong.client.get_forwarded_port"), 443);
  EXPECT_EQ(ok_value(f, "kong.client.get_protocol"), "https");
}

TEST(Client, ProtocolTerminatedByTrustedProxy) {
  Fixture f("access", /*forwarded=*/true);
  f.ctx.scheme = "http";
  EXPECT_EQ(ok_value(f, "kong.client.get_protocol"), "http");
  EXPECT_EQ(ok_value(f, "kong.client.get_protocol", {true}), "https");
}

TEST(Client, AuthenticateThenConsumerAndCredential) {
  Fixture f;
  PdkResult before = f.call("kong.client.get_consumer");
  EXPECT_EQ(before.status, Status::nil);
  EXPECT_EQ(table_step("kong.client.get_consumer"), "plugin.StepConsumer");
  json consumer = {{"id", "c1"}, {"username", "alice"}};
  json credential = {{"id", "k1"}, {"consumer_id", "c1"}};
  PdkResult auth = f.call("kong.client.authenticate", {consumer, credential});
  EXPECT_EQ(auth.status, Status::nil);
  EXPECT_EQ(table_step("kong.client.authenticate"), "plugin.StepCredential");
  EXPECT_EQ(ok_value(f, "kong.client.get_consumer"), consumer);
  PdkResult cred = f.call("kong.client.get_credential");
  EXPECT_EQ(cred.value, credential);
  EXPECT_EQ(table_step("kong.client.get_credential"), "plugin.StepCredential");
  expect_error(f, "kong.client.authenticate", {nullptr, nullptr}, "either credential or consumer");
  Fixture log("log");
  expect_error(log, "kong.client.authenticate", {consumer, credential}, "cannot be called in log phase");
}

TEST(Client, LoadConsumerByIdOrUsername) {
  Fixture f;
  PdkResult r = f.call("kong.client.load_consumer", {"8e1c4b0a-3f5d-4a6e-9b7c-1d2e3f405162"});
  EXPECT_EQ(table_step("kong.client.load_consumer"), "plugin.StepConsumer");
  EXPECT_EQ(r.value, json({{"id", "8e1c4b0a-3f5d-4a6e-9b7c-1d2e3f405162"},
                           {"username", "alice"},
                           {"custom_id", "cust-0042"}}));
  expect_nil(f, "kong.client.load_consumer", {"alice"});
  EXPECT_EQ(ok_value(f, "kong.client.load_consumer", {"alice", true})["username"], "alice");
  expect_error(f, "kong.client.load_consumer", {42}, "consumer_id must be a string");
}

TEST(Router, RouteAndServiceEntities) {
  Fixture f;
  PdkResult route = f.call("kong.router.get_route");
  EXPECT_EQ(table_step("kong.router.get_route"), "plugin.StepRoute");
  EXPECT_EQ(route.value["name"], "items-route");
  EXPECT_EQ(route.value["service"], json({{"id", kServiceId}}));
  EXPECT_EQ(route.value["strip_path"], false);
  PdkResult service = f.call("kong.router.get_service");
  EXPECT_EQ(table_step("kong.router.get_service"), "plugin.StepService");
  EXPECT_EQ(service.value["host"], "upstream.internal");
  EXPECT_EQ(service.value["connect_timeout"], 60000);
  f.ctx.match.reset();
  expect_nil(f, "kong.router.get_route");
  Fixture rewrite("rewrite");
  expect_error(rewrite, "kong.router.get_route", json::array(), "cannot be called in rewrite phase");
}

// ---- kong.ctx, kong.nginx, kong.node, kong.ip, kong.plugin, kong.cluster ----

TEST(Ctx, SharedAndNginxCtx) {
  Fixture f;
  expect_nil(f, "kong.ctx.shared.get", {"k"});
  f.call("kong.ctx.shared.set", {"k", 7.5});
  EXPECT_EQ(ok_value(f, "kong.ctx.shared.get", {"k"}), 7.5);
  f.call("kong.ctx.shared.set", {"k"});
  expect_nil(f, "kong.ctx.shared.get", {"k"});
  f.call("kong.nginx.set_ctx", {"KONG_X", {{"a", 1}}});
  EXPECT_EQ(ok_value(f, "kong.nginx.get_ctx", {"KONG_X"}), json({{"a", 1}}));
}

TEST(Nginx, Variables) {
  Fixture f;
  auto var = [&](const char* name) { return f.call("kong.nginx.get_var", {name}); };
  EXPECT_EQ(var("request_id").value, "4f6c1e2d9a8b7c6d5e4f3a2b1c0d9e8f");
  EXPECT_EQ(var("uri").value, "/api/v1/items");
  EXPECT_EQ(var("request_uri").value, "/api/v1/items?color=blue&size=10&tag=a&tag=b&debug");
  EXPECT_EQ(var("host").value, "api.example.test");
  EXPECT_EQ(var("remote_addr").value, "198.51.100.7");
  EXPECT_EQ(var("realip_remote_addr").value, "192.0.2.10");
  EXPECT_EQ(var("scheme").value, "https");
  EXPECT_EQ(var("server_port").value, "8443");
  EXPECT_EQ(var("request_method").value, "POST");
  EXPECT_EQ(var("http_user_agent").value, "conform-client/1.0");
  EXPECT_EQ(var("arg_tag").value, "a");
  EXPECT_EQ(var("args").value, "color=blue&size=10&tag=a&tag=b&debug");
  EXPECT_EQ(var("upstream_uri").value, "/api/v1/items?color=blue&size=10&tag=a&tag=b&debug");
  EXPECT_EQ(var("no_such_var").status, Status::nil);
  EXPECT_EQ(ok_value(f, "kong.nginx.get_subsystem"), "http");
  EXPECT_TRUE(ok_value(f, "kong.nginx.req_start_time").is_number_float());
}

TEST(Node, IdsAndStats) {
  Fixture f;
  EXPECT_EQ(ok_value(f, "kong.node.get_id"), kNodeId);  // the snapshot's (build_snapshot decides it)
  EXPECT_FALSE(ok_value(f, "kong.node.get_hostname").get<std::string>().empty());
  PdkResult stats = f.call("kong.node.get_memory_stats");
  EXPECT_EQ(table_step("kong.node.get_memory_stats"), "plugin.StepMemoryStats");
  EXPECT_GT(stats.value["workers_lua_vms"][0]["http_allocated_gc"].get<int64_t>(), 0);
  EXPECT_EQ(ok_value(f, "kong.ip.is_trusted", {"198.51.100.7"}), true);
  EXPECT_EQ(ok_value(f, "kong.ip.is_trusted", {"203.0.113.1"}), false);
  EXPECT_EQ(ok_value(f, "kong.ip.is_trusted", {"not an ip"}), false);
  EXPECT_EQ(ok_value(f, "kong.plugin.get_id"), "9c7b5a3d-1e2f-4a6b-8c9d-0e1f2a3b4c21");
  expect_nil(f, "kong.cluster.get_id");
}

// ---- kong.log ----

TEST(Log, LevelsAcceptMixedArguments) {
  Fixture f;
  for (const char* m : {"kong.log", "kong.log.alert", "kong.log.crit", "kong.log.err", "kong.log.warn",
                        "kong.log.notice", "kong.log.info", "kong.log.debug", "kong.log.deprecation"}) {
    expect_nil(f, m, {"text ", 1.1, " ", 7, nullptr, true, {{"k", "v"}}});
  }
}

TEST(Log, SerializeIsKongsStructureAsAString) {
  Fixture f("log");
  f.with_service_response();
  f.request.headers.add("Authorization", "Basic secret");
  f.ctx.authenticated_consumer = core::make_entity_table({{"id", "c1"}});
  json s = json::parse(ok_value(f, "kong.log.serialize").get<std::string>());
  EXPECT_EQ(s["request"]["method"], "POST");
  EXPECT_EQ(s["request"]["uri"], "/api/v1/items?color=blue&size=10&tag=a&tag=b&debug");
  EXPECT_EQ(s["request"]["url"],
            "https://api.example.test:8443/api/v1/items?color=blue&size=10&tag=a&tag=b&debug");
  EXPECT_EQ(s["request"]["querystring"]["tag"], json({"a", "b"}));
  EXPECT_EQ(s["request"]["headers"]["authorization"], "REDACTED");
  EXPECT_EQ(s["response"]["status"], 201);
  EXPECT_EQ(s["route"]["name"], "items-route");
  EXPECT_EQ(s["service"]["name"], "items-svc");
  EXPECT_EQ(s["consumer"], json({{"id", "c1"}}));
  EXPECT_EQ(s["client_ip"], "198.51.100.7");
  EXPECT_EQ(s["upstream_uri"], "/api/v1/items?color=blue&size=10&tag=a&tag=b&debug");
  EXPECT_TRUE(s["latencies"].contains("kong"));
  EXPECT_TRUE(s["started_at"].is_number_integer());
}

TEST(Log, SetSerializeValueModes) {
  Fixture f("log");
  f.call("kong.log.set_serialize_value", {"request.headers.x-extra", "1"});
  f.call("kong.log.set_serialize_value", {"client_ip", "hidden", {{"mode", "replace"}}});
  f.call("kong.log.set_serialize_value", {"nope", "x", {{"mode", "replace"}}});
  f.call("kong.log.set_serialize_value", {"route", "x", {{"mode", "add"}}});
  f.call("kong.log.set_serialize_value", {"custom.deep", 5, {{"mode", "add"}}});
  expect_error(f, "kong.log.set_serialize_value", {"k", 1, {{"mode", "merge"}}}, "mode must be");
  json s = serialize_log(f.ctx);
  EXPECT_EQ(s["request"]["headers"]["x-extra"], "1");
  EXPECT_EQ(s["client_ip"], "hidden");
  EXPECT_FALSE(s.contains("nope"));
  EXPECT_EQ(s["route"]["name"], "items-route");
  EXPECT_EQ(s["custom"]["deep"], 5);
}

// The table's facts: prefetch and the stream subsystem ask the entry, not the name.
TEST(Table, FactsOfAFunction) {
  auto facts = [](std::string_view name) { return find_pdk_function(name)->facts; };
  EXPECT_EQ(facts("kong.request.get_header"), kHttpReads);
  EXPECT_EQ(facts("kong.request.get_raw_body"), kHttpOnly);  // a read, but possibly large
  EXPECT_EQ(facts("kong.response.set_header"), kHttpOnly);
  EXPECT_EQ(facts("kong.response.exit"), kCalls);  // stream plugins may end a connection too
  EXPECT_EQ(facts("kong.service.request.set_path"), kHttpOnly);
  EXPECT_EQ(facts("kong.service.set_upstream"), kCalls);
  EXPECT_EQ(facts("kong.client.get_ip"), kReads);
  EXPECT_EQ(facts("kong.client.load_consumer"), kCalls);
  EXPECT_EQ(facts("kong.log.err"), kCalls);
  EXPECT_EQ(facts("kong.nginx.get_tls1Version_str"), kReads);  // an alias has its entry's facts
  for (std::string_view name : supported_methods()) {
    const PdkFunction* f = find_pdk_function(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->name, name);
    // Every function under kong.request/kong.response/kong.service.request|response needs HTTP, but exit.
    const bool http_namespace = name.starts_with("kong.request.") || name.starts_with("kong.response.") ||
                                name.starts_with("kong.service.request.") ||
                                name.starts_with("kong.service.response.");
    EXPECT_EQ(f->http_only(), http_namespace && name != "kong.response.exit") << name;
  }
}

}  // namespace
}  // namespace gh::pdk::testing
