// kong.service.*, kong.service.request.* (what goes upstream) and kong.service.response.* (the
// buffered upstream response), as Kong's pdk/service*.lua.
#include <fmt/format.h>

#include <array>

#include "common/log.h"
#include "common/strings.h"
#include "core/snapshot.h"
#include "pdk/shapes.h"
#include "pdk/state.h"

namespace gh::pdk {

namespace {

constexpr int kMaxTimeout = 2147483646;  // Kong's limit for set_timeouts

json binary(std::string_view bytes) {
  return json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

core::UpstreamRequest& upstream(PdkCall& c) {
  return c.ctx.upstream;
}

// The header list going upstream (the plugins' edits over the forwarded list).
http::HeaderOverlay& upstream_headers(PdkCall& c) {
  return c.ctx.upstream.headers;
}

int bounded_int(const PdkCall& c, size_t i, std::string_view what, int64_t min, int64_t max) {
  auto v = c.int_arg(i, what);
  if (v < min || v > max)
    throw PdkError(fmt::format("{} must be an integer between {} and {}", what, min, max));
  return static_cast<int>(v);
}

// ---- kong.service ----

// Kong 3.x drops set_upstream's error (only the first return value travels), so an unknown
// upstream is a nil result; we log why.
PdkResult set_upstream(PdkCall& c) {
  auto host = c.string_arg(0, "host");
  if (!c.ctx.snapshot || !c.ctx.snapshot->config.find_upstream_by_name(host)) {
    spdlog::warn("[{}] kong.service.set_upstream: could not find an Upstream named '{}'", c.plugin.name,
                 host);
    return PdkResult::nil();
  }
  upstream(c).host = host;
  return PdkResult::ok(true);
}

PdkResult set_target(PdkCall& c) {
  auto host = c.string_arg(0, "host");
  if (host.empty()) throw PdkError("host must be a non-empty string");
  upstream(c).port = static_cast<uint16_t>(bounded_int(c, 1, "port", 0, 65535));
  upstream(c).host = std::move(host);
  return PdkResult::nil();
}

PdkResult set_retries(PdkCall& c) {
  upstream(c).retries = bounded_int(c, 0, "retries", 0, 32767);
  return PdkResult::nil();
}

PdkResult set_timeouts(PdkCall& c) {
  int connect = bounded_int(c, 0, "connect_timeout", 1, kMaxTimeout);
  int write = bounded_int(c, 1, "write_timeout", 1, kMaxTimeout);
  int read = bounded_int(c, 2, "read_timeout", 1, kMaxTimeout);
  upstream(c).connect_timeout_ms = connect;
  upstream(c).write_timeout_ms = write;
  upstream(c).read_timeout_ms = read;
  return PdkResult::nil();
}

PdkResult set_tls_verify(PdkCall& c) {
  upstream(c).tls_verify = c.bool_arg(0, "on");
  return PdkResult::ok(true);
}

// ---- kong.service.request ----

PdkResult set_scheme(PdkCall& c) {
  auto scheme = c.string_arg(0, "scheme");
  if (scheme != "http" && scheme != "https") throw PdkError("invalid scheme: " + scheme);
  upstream(c).scheme = std::move(scheme);
  return PdkResult::nil();
}

PdkResult set_path(PdkCall& c) {
  set_upstream_path(c.ctx, c.string_arg(0, "path"));
  return PdkResult::nil();
}

PdkResult set_raw_query(PdkCall& c) {
  set_upstream_raw_query(c.ctx, c.string_arg(0, "query"));
  return PdkResult::nil();
}

PdkResult set_query(PdkCall& c) {
  upstream(c).query = encode_query(c.arg(0));
  return PdkResult::nil();
}

PdkResult set_method(PdkCall& c) {
  set_upstream_method(c.ctx, c.string_arg(0, "method"));
  return PdkResult::nil();
}

PdkResult request_set_header(PdkCall& c) {
  auto name = header_name_arg(c.arg(0));
  auto values = header_values_arg(name, c.arg(1));
  upstream_headers(c).remove(name);
  for (auto& v : values) upstream_headers(c).add(name, std::move(v));
  return PdkResult::nil();
}

PdkResult request_add_header(PdkCall& c) {
  auto name = header_name_arg(c.arg(0));
  for (auto& v : header_values_arg(name, c.arg(1))) upstream_headers(c).add(name, std::move(v));
  return PdkResult::nil();
}

PdkResult request_clear_header(PdkCall& c) {
  upstream_headers(c).remove(header_name_arg(c.arg(0)));
  return PdkResult::nil();
}

PdkResult request_set_headers(PdkCall& c) {
  set_headers_from_table(upstream_headers(c), c.arg(0));
  return PdkResult::nil();
}

PdkResult set_raw_body(PdkCall& c) {
  const json& body = c.arg(0);
  if (body.is_binary()) {
    upstream(c).body = std::string(body.get_binary().begin(), body.get_binary().end());
  } else {
    upstream(c).body = c.string_arg(0, "body");
  }
  return PdkResult::nil();
}

// set_body(args, mimetype?): JSON or form-urlencoded (multipart is not supported).
PdkResult set_body(PdkCall& c) {
  auto mimetype = c.optional_string(1, "mimetype");
  auto type =
      to_lower(mimetype ? *mimetype : std::string(upstream_headers(c).get("content-type").value_or("")));
  if (type.empty() || type.starts_with("application/json")) {
    upstream(c).body = c.arg(0).dump(-1, ' ', false, json::error_handler_t::replace);
    if (type.empty()) type = "application/json";
  } else if (type.starts_with("application/x-www-form-urlencoded")) {
    upstream(c).body = encode_query(c.arg(0));
  } else {
    throw PdkError("unsupported content type '" + type + "'");
  }
  if (mimetype || !upstream_headers(c).has("content-type")) upstream_headers(c).set("Content-Type", type);
  return PdkResult::ok(true);
}

PdkResult enable_buffering(PdkCall&) {
  return PdkResult::nil();
}  // a response phase buffers anyway

// ---- kong.service.response ----

const core::ServiceResponse& service_response(PdkCall& c) {
  if (!c.ctx.service_response.available) throw PdkError("no upstream response is available");
  return c.ctx.service_response;
}

PdkResult response_get_status(PdkCall& c) {
  if (!c.ctx.service_response.available) return PdkResult::nil();
  return PdkResult::ok(c.ctx.service_response.status);
}

PdkResult response_get_header(PdkCall& c) {
  auto name = c.string_arg(0, "header name");
  auto v = service_response(c).headers.get(name);
  return v ? PdkResult::ok(*v) : PdkResult::nil();
}

PdkResult response_get_headers(PdkCall& c) {
  return PdkResult::ok(headers_multimap(service_response(c).headers, max_count_arg(c, 0, "max_headers")));
}

PdkResult response_get_raw_body(PdkCall& c) {
  return PdkResult::ok(binary(service_response(c).body));
}

PdkResult response_get_body(PdkCall& c) {
  const auto& r = service_response(c);
  auto mimetype = c.optional_string(0, "mimetype");
  auto type = to_lower(mimetype ? *mimetype : std::string(r.headers.get("content-type").value_or("")));
  if (type.starts_with("application/json")) {
    json parsed = json::parse(r.body, nullptr, false);
    return parsed.is_discarded() ? PdkResult::nil() : PdkResult::ok(std::move(parsed));
  }
  if (type.starts_with("application/x-www-form-urlencoded")) {
    return PdkResult::ok(parse_query(r.body, max_count_arg(c, 1, "max_args")));
  }
  return PdkResult::nil();
}

constexpr PdkFunction kService[] = {
    {"kong.service.set_upstream", kBeforeProxy, kCalls, kStep, set_upstream},
    {"kong.service.set_target", kBeforeProxy, kCalls, kStep, set_target},
    {"kong.service.set_retries", kBeforeProxy, kCalls, kStep, set_retries},
    {"kong.service.set_timeouts", kBeforeProxy, kCalls, kStep, set_timeouts},
    {"kong.service.set_tls_verify", kBeforeProxy, kCalls, kStep, set_tls_verify},
    {"kong.service.request.set_scheme", kBeforeProxy, kHttpOnly, kStep, set_scheme},
    {"kong.service.request.set_path", kBeforeProxy, kHttpOnly, kStep, set_path},
    {"kong.service.request.set_raw_query", kBeforeProxy, kHttpOnly, kStep, set_raw_query},
    {"kong.service.request.set_query", kBeforeProxy, kHttpOnly, kStep, set_query},
    {"kong.service.request.set_method", kBeforeProxy, kHttpOnly, kStep, set_method},
    {"kong.service.request.set_header", kBeforeProxy, kHttpOnly, kStep, request_set_header},
    {"kong.service.request.add_header", kBeforeProxy, kHttpOnly, kStep, request_add_header},
    {"kong.service.request.clear_header", kBeforeProxy, kHttpOnly, kStep, request_clear_header},
    {"kong.service.request.set_headers", kBeforeProxy, kHttpOnly, kStep, request_set_headers},
    {"kong.service.request.set_raw_body", kBeforeProxy, kHttpOnly, kStep, set_raw_body},
    {"kong.service.request.set_body", kBeforeProxy, kHttpOnly, kStep, set_body},
    {"kong.service.request.enable_buffering", kBeforeProxy, kHttpOnly, kStep, enable_buffering},
    {"kong.service.response.get_status", kUpstreamResponse, kHttpReads, kStep, response_get_status},
    {"kong.service.response.get_header", kUpstreamResponse, kHttpReads, kStep, response_get_header},
    {"kong.service.response.get_headers", kUpstreamResponse, kHttpReads, kStepMultiMap, response_get_headers},
    {"kong.service.response.get_raw_body", kUpstreamResponse, kHttpOnly, kStep, response_get_raw_body},
    {"kong.service.response.get_body", kUpstreamResponse, kHttpOnly, kStep, response_get_body},
};

}  // namespace

void set_upstream_path(core::RequestContext& ctx, std::string path) {
  if (path.empty() || path.front() != '/') throw PdkError("path must start with /");
  for (unsigned char ch : path) {
    if (ch <= 0x20 || ch == 0x7f || ch == '?' || ch == '#')
      throw PdkError("path contains an invalid character");
  }
  ctx.upstream.path = std::move(path);
}

void set_upstream_raw_query(core::RequestContext& ctx, std::string query) {
  for (unsigned char ch : query) {
    if (ch <= 0x20 || ch == 0x7f || ch == '#') throw PdkError("query contains an invalid character");
  }
  ctx.upstream.query = std::move(query);
}

void set_upstream_method(core::RequestContext& ctx, std::string method) {
  static constexpr std::array<std::string_view, 16> kMethods{
      "GET",  "HEAD",     "PUT",       "POST", "DELETE", "OPTIONS", "MKCOL", "COPY",
      "MOVE", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH",   "TRACE", "CONNECT"};
  if (std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end()) {
    throw PdkError("invalid method: " + method);
  }
  ctx.upstream.method = std::move(method);
}

std::span<const PdkFunction> service_functions() {
  return kService;
}

}  // namespace gh::pdk
