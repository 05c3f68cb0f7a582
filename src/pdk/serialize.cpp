#include "pdk/serialize.h"

#include <chrono>

#include "common/strings.h"
#include "pdk/shapes.h"

namespace gh::pdk {

namespace {

using json = nlohmann::json;
using Millis = std::chrono::duration<double, std::milli>;

// Kong 3.x never logs credentials carried in these headers.
json redacted_headers(const http::Headers& headers) {
  json map = headers_multimap(headers, 1000);
  for (const char* secret : {"authorization", "proxy-authorization"}) {
    if (map.contains(secret)) map[secret] = "REDACTED";
  }
  return map;
}

int64_t millis_between(core::Clock::time_point from, core::Clock::time_point to) {
  if (from == core::Clock::time_point{} || to == core::Clock::time_point{} || to < from) return -1;
  return static_cast<int64_t>(Millis(to - from).count());
}

json request_part(const core::RequestContext& ctx) {
  json r = {{"size", ctx.request_bytes}, {"id", ctx.request_id}};
  if (!ctx.request) return r;
  const auto& req = *ctx.request;
  std::string host = request_host(ctx);
  r["method"] = req.method;
  r["uri"] = req.target;
  r["url"] = ctx.scheme + "://" + host + ":" + std::to_string(ctx.server_port) + req.target;
  r["querystring"] = parse_query(req.query(), 100);
  r["headers"] = redacted_headers(req.headers);
  return r;
}

json latencies(const core::RequestContext& ctx) {
  const auto l = request_latencies(ctx);
  return {{"request", l.request}, {"proxy", l.proxy}, {"receive", l.receive}, {"kong", l.kong}};
}

json tries(const core::RequestContext& ctx) {
  json list = json::array();
  if (ctx.upstream_addr.empty()) return list;
  auto colon = ctx.upstream_addr.rfind(':');
  json last = {{"ip", ctx.upstream_addr.substr(0, colon)}, {"balancer_latency", 0}};
  if (colon != std::string::npos) last["port"] = std::atoi(ctx.upstream_addr.c_str() + colon + 1);
  for (int i = 1; i < ctx.tries; ++i) list.push_back({{"balancer_latency", 0}});  // earlier failures
  list.push_back(std::move(last));
  return list;
}

// set/add/replace one dotted key ("request.headers.x-id"); a null value removes it.
void apply_override(json& root, const std::string& key, const std::string& mode, const json& value) {
  auto parts = split_list(key, '.');
  if (parts.empty()) return;
  json* node = &root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!node->is_object()) return;
    if (!node->contains(parts[i])) {
      if (mode == "replace") return;
      (*node)[parts[i]] = json::object();
    }
    node = &(*node)[parts[i]];
  }
  if (!node->is_object()) return;
  bool present = node->contains(parts.back());
  if ((mode == "add" && present) || (mode == "replace" && !present)) return;
  if (value.is_null()) {
    node->erase(parts.back());
  } else {
    (*node)[parts.back()] = value;
  }
}

}  // namespace

// kong: time spent in gatehouse; proxy: upstream until first byte; request: the whole request.
Latencies request_latencies(const core::RequestContext& ctx) {
  auto end = ctx.end == core::Clock::time_point{} ? core::Clock::now() : ctx.end;
  int64_t request = millis_between(ctx.start, end);
  int64_t proxy = millis_between(ctx.upstream_start, ctx.upstream_first_byte);
  int64_t receive = millis_between(ctx.upstream_first_byte, end);
  int64_t upstream = millis_between(ctx.upstream_start, end);
  return {request, proxy, receive < 0 ? 0 : receive, upstream < 0 ? request : request - upstream};
}

json serialize_log(const core::RequestContext& ctx) {
  using namespace std::chrono;
  json log = {
      {"request", request_part(ctx)},
      {"upstream_uri",
       ctx.upstream.query.empty() ? ctx.upstream.path : ctx.upstream.path + "?" + ctx.upstream.query},
      {"response",
       {{"status", ctx.response.status},
        {"size", ctx.response_bytes},
        {"headers", redacted_headers(ctx.response.headers)}}},
      {"latencies", latencies(ctx)},
      {"tries", tries(ctx)},
      {"client_ip", ctx.client_ip},
      {"started_at", duration_cast<milliseconds>(ctx.started_at.time_since_epoch()).count()},
      {"source", ctx.response.source},
  };
  if (ctx.upstream_status) log["upstream_status"] = std::to_string(ctx.upstream_status);
  if (ctx.match && ctx.match->route) log["route"] = route_entity(*ctx.match->route);
  if (ctx.match && ctx.match->service) log["service"] = service_entity(*ctx.match->service);
  if (ctx.authenticated_consumer) log["consumer"] = *ctx.authenticated_consumer;
  if (ctx.authenticated_credential) log["authenticated_entity"] = *ctx.authenticated_credential;
  for (const auto& [key, op] : ctx.serialize_overrides.items()) {
    apply_override(log, key, op.value("mode", "set"), op.contains("value") ? op["value"] : json());
  }
  return log;
}

}  // namespace gh::pdk
