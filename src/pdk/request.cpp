// kong.request.*: the client's request as received (Kong's pdk/request.lua).
#include <fmt/format.h>

#include <charconv>
#include <chrono>

#include "common/strings.h"
#include "pdk/shapes.h"
#include "pdk/state.h"
#include "router/router.h"

namespace gh::pdk {

namespace {

// Kong's message when the body is not in memory (plugins may match on it).
constexpr std::string_view kBodyUnavailable =
    "request body did not fit into client body buffer, consider raising 'client_body_buffer_size'";

json binary(std::string_view bytes) {
  return json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

std::optional<std::string> trusted_forwarded_header(const PdkCall& c, std::string_view name) {
  if (!c.ctx.request || !peer_is_trusted(c.ctx)) return std::nullopt;
  auto v = c.ctx.request->headers.get(name);
  if (!v) return std::nullopt;
  return std::string(trim(v->substr(0, v->find(','))));  // the first (client-most) entry
}

std::string normalized_path(const PdkCall& c) {
  return router::normalize_path(c.request().path());
}

PdkResult get_scheme(PdkCall& c) {
  return PdkResult::ok(c.ctx.scheme);
}
PdkResult get_host(PdkCall& c) {
  return PdkResult::ok(request_host(c.ctx));
}
PdkResult get_port(PdkCall& c) {
  return PdkResult::ok(c.ctx.server_port);
}

PdkResult get_forwarded_scheme(PdkCall& c) {
  auto proto = trusted_forwarded_header(c, "x-forwarded-proto");
  return PdkResult::ok(proto ? to_lower(*proto) : c.ctx.scheme);
}

PdkResult get_forwarded_host(PdkCall& c) {
  auto host = trusted_forwarded_header(c, "x-forwarded-host");
  if (!host) return get_host(c);
  return PdkResult::ok(host_without_port(*host));
}

PdkResult get_forwarded_port(PdkCall& c) {
  if (auto port = trusted_forwarded_header(c, "x-forwarded-port")) {
    int n = 0;
    auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), n);
    if (ec == std::errc{} && end == port->data() + port->size() && n > 0 && n < 65536)
      return PdkResult::ok(n);
  }
  return get_port(c);
}

PdkResult get_forwarded_path(PdkCall& c) {
  if (auto path = trusted_forwarded_header(c, "x-forwarded-path")) return PdkResult::ok(*path);
  return PdkResult::ok(normalized_path(c));
}

// X-Forwarded-Prefix from a trusted proxy, else the prefix this route stripped (what Kong sends
// upstream as X-Forwarded-Prefix), else nil.
PdkResult get_forwarded_prefix(PdkCall& c) {
  if (auto prefix = trusted_forwarded_header(c, "x-forwarded-prefix")) return PdkResult::ok(*prefix);
  const auto& m = c.ctx.match;
  if (m && m->route && m->route->strip_path && !m->matched_path.empty() && m->matched_path != "/") {
    return PdkResult::ok(m->matched_path);
  }
  return PdkResult::nil();
}

PdkResult get_http_version(PdkCall& c) {
  return PdkResult::ok(c.request().version_major + c.request().version_minor / 10.0);
}
PdkResult get_method(PdkCall& c) {
  return PdkResult::ok(c.request().method);
}
PdkResult get_path(PdkCall& c) {
  return PdkResult::ok(normalized_path(c));
}
PdkResult get_raw_path(PdkCall& c) {
  return PdkResult::ok(c.request().path());
}
PdkResult get_raw_query(PdkCall& c) {
  return PdkResult::ok(c.request().query());
}

PdkResult get_path_with_query(PdkCall& c) {
  auto query = c.request().query();
  return PdkResult::ok(query.empty() ? normalized_path(c) : normalized_path(c) + "?" + std::string(query));
}

PdkResult get_query(PdkCall& c) {
  return PdkResult::ok(parse_query(c.request().query(), max_count_arg(c, 0, "max_args")));
}

// The first value of a repeated arg, `true` for a flag, nil when absent.
PdkResult get_query_arg(PdkCall& c) {
  auto name = c.string_arg(0, "query argument name");
  json args = parse_query(c.request().query(), 100);
  auto it = args.find(name);
  if (it == args.end()) return PdkResult::nil();
  return PdkResult::ok(it->is_array() ? it->front() : *it);
}

// ngx.var.http_<name>: '_' and '-' are the same, the first value of repeated headers.
PdkResult get_header(PdkCall& c) {
  auto name = c.string_arg(0, "header name");
  std::replace(name.begin(), name.end(), '_', '-');
  auto v = c.request().headers.get(name);
  return v ? PdkResult::ok(*v) : PdkResult::nil();
}

PdkResult get_headers(PdkCall& c) {
  return PdkResult::ok(headers_multimap(c.request().headers, max_count_arg(c, 0, "max_headers")));
}

// A body larger than client_body_buffer_size is in a file and never sent to a plugin server
// whole: Kong's nil + error (MsgPack: StepError). ProtoBuf gets the file's path in
// RawBodyResult.body_filepath, as Kong answers; go-pdk and our C++ PDK read the file themselves.
PdkResult body_unavailable(const PdkCall& c) {
  PdkResult result = PdkResult::fail(std::string(kBodyUnavailable));
  if (!c.ctx.request_body_file.empty()) result.value = {{"body_filepath", c.ctx.request_body_file}};
  return result;
}

boost::asio::awaitable<PdkResult> get_raw_body(PdkCall& c) {
  const std::string* body = co_await request_body(c.ctx);
  if (!body) co_return body_unavailable(c);
  co_return PdkResult::ok(binary(*body));
}

// JSON and form bodies only (multipart is not parsed); nil when the body has another type or does
// not parse, as Kong's first return value is then nil.
boost::asio::awaitable<PdkResult> get_body(PdkCall& c) {
  auto mimetype = c.optional_string(0, "mimetype");
  size_t max_args = max_count_arg(c, 1, "max_args");
  auto type =
      to_lower(mimetype ? *mimetype : std::string(c.request().headers.get("content-type").value_or("")));
  const std::string* body = co_await request_body(c.ctx);
  if (!body) co_return PdkResult::fail(std::string(kBodyUnavailable));
  if (type.starts_with("application/json")) {
    json parsed = json::parse(*body, nullptr, false);
    co_return parsed.is_discarded() ? PdkResult::nil() : PdkResult::ok(std::move(parsed));
  }
  if (type.starts_with("application/x-www-form-urlencoded"))
    co_return PdkResult::ok(parse_query(*body, max_args));
  co_return PdkResult::nil();
}

// The router keeps the whole match at index 0 (ngx.re.match's captures[0]); Kong's `unnamed` starts
// at the first capture group.
PdkResult get_uri_captures(PdkCall& c) {
  json unnamed = json::array();
  json named = json::object();
  if (c.ctx.match) {
    const auto& captures = c.ctx.match->captures_unnamed;
    for (size_t i = 1; i < captures.size(); ++i) unnamed.push_back(captures[i]);
    for (const auto& [k, v] : c.ctx.match->captures_named) named[k] = v;
  }
  return PdkResult::ok({{"unnamed", std::move(unnamed)}, {"named", std::move(named)}});
}

PdkResult get_start_time(PdkCall& c) {
  using namespace std::chrono;
  return PdkResult::ok(duration_cast<milliseconds>(c.ctx.started_at.time_since_epoch()).count());
}

constexpr PdkFunction kRequest[] = {
    {"kong.request.get_scheme", kHttpPhases, kHttpReads, kStep, get_scheme},
    {"kong.request.get_host", kHttpPhases, kHttpReads, kStep, get_host},
    {"kong.request.get_port", kHttpPhases, kHttpReads, kStep, get_port},
    {"kong.request.get_forwarded_scheme", kHttpPhases, kHttpReads, kStep, get_forwarded_scheme},
    {"kong.request.get_forwarded_host", kHttpPhases, kHttpReads, kStep, get_forwarded_host},
    {"kong.request.get_forwarded_port", kHttpPhases, kHttpReads, kStep, get_forwarded_port},
    {"kong.request.get_forwarded_path", kHttpPhases, kHttpReads, kStep, get_forwarded_path},
    {"kong.request.get_forwarded_prefix", kHttpPhases, kHttpReads, kStep, get_forwarded_prefix},
    {"kong.request.get_http_version", kHttpPhases, kHttpReads, kStep, get_http_version},
    {"kong.request.get_method", kHttpPhases, kHttpReads, kStep, get_method},
    {"kong.request.get_path", kHttpPhases, kHttpReads, kStep, get_path},
    {"kong.request.get_raw_path", kHttpPhases, kHttpReads, kStep, get_raw_path},
    {"kong.request.get_path_with_query", kHttpPhases, kHttpReads, kStep, get_path_with_query},
    {"kong.request.get_raw_query", kHttpPhases, kHttpReads, kStep, get_raw_query},
    {"kong.request.get_query", kHttpPhases, kHttpReads, kStepMultiMap, get_query},
    {"kong.request.get_query_arg", kHttpPhases, kHttpReads, kStep, get_query_arg},
    {"kong.request.get_header", kHttpPhases, kHttpReads, kStep, get_header},
    {"kong.request.get_headers", kHttpPhases, kHttpReads, kStepMultiMap, get_headers},
    {"kong.request.get_raw_body", kResponseWritable, kHttpOnly, kStep, nullptr, get_raw_body},
    {"kong.request.get_body", kResponseWritable, kHttpOnly, kStep, nullptr, get_body},
    {"kong.request.get_uri_captures", kHttpPhases, kHttpReads, kStep, get_uri_captures},
    {"kong.request.get_start_time", kHttpPhases, kHttpReads, kStep, get_start_time},
};

}  // namespace

boost::asio::awaitable<const std::string*> request_body(core::RequestContext& ctx) {
  static const std::string kNoBody;
  if (!ctx.buffered_request_body && ctx.request_body_file.empty()) {
    if (!ctx.request || !ctx.request->has_body()) co_return &kNoBody;
    if (!ctx.body_source) co_return nullptr;
    const bool read = co_await ctx.body_source->read_whole_body(ctx);
    if (!read) co_return nullptr;
  }
  co_return ctx.buffered_request_body ? &*ctx.buffered_request_body : nullptr;
}

std::span<const PdkFunction> request_functions() {
  return kRequest;
}

}  // namespace gh::pdk
