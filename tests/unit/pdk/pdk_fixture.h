// A real request context for PDK tests: the request, route, service and properties of the
// conformance recordings (tests/data/conformance/README.md §3), built from gatehouse's own types.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "pdk/request_pdk.h"
#include "proxy/snapshot.h"

namespace gh::pdk::testing {

using json = nlohmann::json;
using pdk::PdkResult;

inline constexpr const char* kRouteId = "3b2f8c1d-0e4a-4b5c-9d6e-7f8091a2b3c4";
inline constexpr const char* kServiceId = "5d4c3b2a-1f0e-4d9c-8b7a-695847362514";
inline constexpr const char* kNodeId = "6a0e3f52-8d4b-4c1e-a7f9-0b1c2d3e4f50";
inline constexpr const char* kRequestBody = R"({"item":"widget","qty":2})";

// Also the request's body source, as the HTTP run loop is (body_too_large, body_file choose its answer).
struct Fixture final : core::RequestBodySource {
  // `phase`: the phase the plugin runs in; `forwarded`: whether a trusted proxy sent X-Forwarded-*.
  explicit Fixture(std::string phase = "access", bool forwarded = false) {
    auto snap = std::make_shared<core::Snapshot>();
    snap->properties.values["node_id"] = kNodeId;
    snap->node_id = kNodeId;  // as build_snapshot sets it from the property
    snap->properties.trusted_ips = {conf::Cidr::parse("192.0.2.10"), conf::Cidr::parse("198.51.100.7")};
    snap->config.services.push_back(service());
    snap->config.routes.push_back(route());
    conf::Consumer alice;
    alice.id = "8e1c4b0a-3f5d-4a6e-9b7c-1d2e3f405162";
    alice.username = "alice";
    alice.custom_id = "cust-0042";
    snap->config.consumers.push_back(alice);
    snapshot = snap;

    request.method = "POST";
    request.target = "/api/v1/items?color=blue&size=10&tag=a&tag=b&debug";
    request.content_length = std::string(kRequestBody).size();
    for (auto [n, v] : {std::pair{"Host", "api.example.test"},
                        {"User-Agent", "conform-client/1.0"},
                        {"Accept", "application/json"},
                        {"Content-Type", "application/json"},
                        {"X-Multi", "one"},
                        {"X-Multi", "two"},
                        {"X-Forwarded-For", "198.51.100.7"}}) {
      request.headers.add(n, v);
    }
    if (forwarded) {
      for (auto [n, v] : {std::pair{"X-Forwarded-Proto", "https"},
                          {"X-Forwarded-Host", "public.example.test"},
                          {"X-Forwarded-Port", "443"},
                          {"X-Forwarded-Path", "/public/api/v1/items"},
                          {"X-Forwarded-Prefix", "/public"}}) {
        request.headers.add(n, v);
      }
    }
    ctx.request = &request;
    ctx.snapshot = snapshot;
    ctx.scheme = "https";
    ctx.server_port = 8443;
    ctx.remote_ip = "192.0.2.10";
    ctx.remote_port = 53211;
    ctx.client_ip = "198.51.100.7";
    ctx.client_port = 443;
    ctx.request_id = "4f6c1e2d9a8b7c6d5e4f3a2b1c0d9e8f";
    ctx.phase = *core::parse_phase(phase);
    ctx.match = router::RouteMatch{};
    ctx.match->route = &snapshot->config.routes.front();
    ctx.match->service = &snapshot->config.services.front();
    ctx.match->upstream_path = "/api/v1/items";
    ctx.match->matched_path = "/api/v1";
    ctx.upstream.method = "POST";
    ctx.upstream.path = "/api/v1/items";
    ctx.upstream.query = "color=blue&size=10&tag=a&tag=b&debug";
    ctx.upstream.headers.assign(request.headers);
    ctx.body_source = this;
    plugin.name = "js-conform";
    plugin.id = "9c7b5a3d-1e2f-4a6b-8c9d-0e1f2a3b4c21";
    plugin.phase = ctx.phase;
  }

  static conf::Service service() {
    conf::Service s;
    s.id = kServiceId;
    s.name = "items-svc";
    s.host = "upstream.internal";
    s.port = 8080;
    s.path = "/";
    s.tags = {"conformance"};
    return s;
  }

  static conf::Route route() {
    conf::Route r;
    r.id = kRouteId;
    r.name = "items-route";
    r.service_id = kServiceId;
    r.methods = {"GET", "POST"};
    r.hosts = {"api.example.test"};
    r.paths = {"/api/v1"};
    r.strip_path = false;
    r.tags = {"conformance"};
    return r;
  }

  // The upstream answered (response phase): status 201 and the recorded headers/body.
  void with_service_response() {
    auto& r = ctx.service_response;
    r.available = true;
    r.status = 201;
    for (auto [n, v] : {std::pair{"Content-Type", "application/json"},
                        {"Content-Length", "25"},
                        {"X-Upstream", "items-v2"},
                        {"Set-Cookie", "a=1; Path=/"},
                        {"Set-Cookie", "b=2; Path=/"},
                        {"X-Upstream-Secret", "s3cr3t"}}) {
      r.headers.add(n, v);
    }
    r.body = R"({"id":42,"item":"widget"})";
    ctx.response.status = 201;
    ctx.response.headers = r.headers;
    ctx.upstream_status = 201;
  }

  void set_phase(const std::string& phase) {
    ctx.phase = *core::parse_phase(phase);
    plugin.phase = ctx.phase;
  }

  // Runs one PDK call to completion on a fresh io_context (the handler may suspend on the body).
  PdkResult call(std::string_view method, json args = json::array()) {
    boost::asio::io_context io;
    PdkResult out;
    RequestPdk pdk(ctx, plugin, std::chrono::steady_clock::time_point::max(), tallies);
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { out = co_await pdk.call(method, std::move(args)); },
        boost::asio::detached);
    io.run();
    return out;
  }

  boost::asio::awaitable<bool> read_whole_body(core::RequestContext& c) override {
    ++body_reads;
    if (body_too_large) co_return false;
    if (!body_file.empty()) {
      c.request_body_file = body_file;
      co_return true;
    }
    c.buffered_request_body = std::string(kRequestBody);
    co_return true;
  }

  std::shared_ptr<core::Snapshot> snapshot;
  PdkTallies* tallies = nullptr;  // where call() counts (nowhere by default)
  http::RequestHead request;
  core::RequestContext ctx;
  PluginCall plugin;
  bool body_too_large = false;
  std::string body_file;  // non-empty: the body went to this temporary file (over client_body_buffer_size)
  int body_reads = 0;
};

}  // namespace gh::pdk::testing
