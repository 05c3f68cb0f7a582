// kong.node, kong.nginx, kong.ctx.shared, kong.log, kong.ip, kong.plugin, kong.cluster.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "common/log.h"
#include "common/strings.h"
#include "core/snapshot.h"
#include "pdk/request_pdk.h"
#include "pdk/serialize.h"
#include "pdk/shapes.h"
#include "router/router.h"
#include "tls/client_certificate.h"

namespace gh::pdk {

namespace {

PdkResult nil_or(const json& value) {
  return value.is_null() ? PdkResult::nil() : PdkResult::ok(value);
}

// ---- kong.node ----

// kong.conf's node_id (Kong 3.x property) when set, else the process's UUID (Snapshot::node_id).
PdkResult node_get_id(PdkCall& c) {
  return c.ctx.snapshot ? PdkResult::ok(c.ctx.snapshot->node_id) : PdkResult::nil();
}

PdkResult node_get_hostname(PdkCall&) {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) throw PdkError("gethostname failed");
  return PdkResult::ok(std::string(name));
}

// Kong's shape; there are no Lua VMs or shared dicts here, so the one "worker" reports the
// process's resident memory and the dictionaries are empty.
PdkResult node_get_memory_stats(PdkCall&) {
  long pages = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> pages >> resident;
  json worker = {{"pid", static_cast<int64_t>(getpid())},
                 {"http_allocated_gc", static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE)}};
  return PdkResult::ok({{"lua_shared_dicts", json::object()}, {"workers_lua_vms", json::array({worker})}});
}

// ---- kong.nginx ----

std::optional<std::string> header_var(const core::RequestContext& ctx, std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  auto v = ctx.request ? ctx.request->headers.get(name) : std::nullopt;
  return v ? std::optional<std::string>(*v) : std::nullopt;
}

std::optional<std::string> arg_var(const core::RequestContext& ctx, const std::string& name) {
  if (!ctx.request) return std::nullopt;
  json args = parse_query(ctx.request->query(), 100);
  auto it = args.find(name);
  if (it == args.end()) return std::nullopt;
  const json& v = it->is_array() ? it->front() : *it;
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::string upstream_uri(const core::RequestContext& ctx) {
  return ctx.upstream.query.empty() ? ctx.upstream.path : ctx.upstream.path + "?" + ctx.upstream.query;
}

// The nginx variables plugins commonly read, computed from the request context.
// nginx's $ssl_client_<what> on TLS connections (kong.client.tls.set_client_verify amends verify).
std::optional<std::string> client_certificate_var(const core::RequestContext& ctx, std::string_view what) {
  if (ctx.scheme != "https") return std::nullopt;
  const auto* cert = ctx.client_certificate.get();
  if (what == "verify") {
    if (!ctx.client_verify_override.empty()) return ctx.client_verify_override;
    return cert ? cert->verify : "NONE";
  }
  if (!cert) return std::nullopt;
  if (what == "raw_cert") return cert->leaf_pem;
  if (what == "s_dn") return cert->subject;
  if (what == "i_dn") return cert->issuer;
  if (what == "serial") return cert->serial;
  return std::nullopt;
}

std::optional<std::string> nginx_var(const core::RequestContext& ctx, const std::string& name) {
  const auto* req = ctx.request;
  if (name.starts_with("http_")) return header_var(ctx, name.substr(5));
  if (name.starts_with("arg_")) return arg_var(ctx, name.substr(4));
  if (name == "request_id") return ctx.request_id;
  if (name == "remote_addr" || name == "binary_remote_addr") return ctx.client_ip;
  if (name == "remote_port") return std::to_string(ctx.client_port);
  if (name == "realip_remote_addr") return ctx.remote_ip;
  if (name == "realip_remote_port") return std::to_string(ctx.remote_port);
  if (name == "scheme") return ctx.scheme;
  if (name == "https") return std::string(ctx.scheme == "https" ? "on" : "");
  if (name == "ssl_server_name")
    return ctx.tls_server_name.empty() ? std::nullopt : std::optional(ctx.tls_server_name);
  if (name == "ssl_protocol")
    return ctx.tls_protocol.empty() ? std::nullopt : std::optional(ctx.tls_protocol);
  if (name.starts_with("ssl_client_")) return client_certificate_var(ctx, name.substr(11));
  if (name == "server_port") return std::to_string(ctx.server_port);
  if (name == "host") return request_host(ctx);
  if (name == "hostname") return std::string();
  if (name == "upstream_uri") return upstream_uri(ctx);
  if (name == "upstream_scheme") return ctx.upstream.scheme;
  if (name == "upstream_addr") return ctx.upstream_addr;
  if (name == "upstream_status")
    return ctx.upstream_status ? std::to_string(ctx.upstream_status) : std::string();
  if (name == "status") return std::to_string(ctx.response.status);
  if (!req) return std::nullopt;
  if (name == "uri") return router::normalize_path(req->path());
  if (name == "request_uri") return req->target;
  if (name == "request_method") return req->method;
  if (name == "server_protocol") return fmt::format("HTTP/{}.{}", req->version_major, req->version_minor);
  if (name == "args" || name == "query_string") {
    return req->query().empty() ? std::nullopt : std::optional<std::string>(req->query());
  }
  if (name == "is_args") return std::string(req->query().empty() ? "" : "?");
  if (name == "content_type") return header_var(ctx, "content-type");
  if (name == "content_length") return header_var(ctx, "content-length");
  if (name == "request_length") return std::to_string(ctx.request_bytes);
  return std::nullopt;
}

PdkResult get_var(PdkCall& c) {
  auto v = nginx_var(c.ctx, c.string_arg(0, "variable name"));
  return v ? PdkResult::ok(*v) : PdkResult::nil();
}

// Milliseconds since the epoch of a request's steady-clock instant.
int64_t epoch_ms(const core::RequestContext& ctx, core::Clock::time_point at) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(ctx.started_at.time_since_epoch() + (at - ctx.start)).count();
}

int64_t ms_between(core::Clock::time_point from, core::Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// Kong's timing keys of ngx.ctx (epoch milliseconds, durations in milliseconds), from what the
// request recorded; nullopt for other keys and for what did not happen (yet).
std::optional<int64_t> kong_timing(const core::RequestContext& ctx, std::string_view key) {
  static constexpr std::string_view kPhases[] = {"CERTIFICATE", "REWRITE", "ACCESS",
                                                 "RESPONSE",    "PREREAD", "LOG"};
  if (key == "KONG_PROCESSING_START") return epoch_ms(ctx, ctx.start);
  const bool proxied = ctx.upstream_start != core::Clock::time_point{};
  if (key == "KONG_BALANCER_START")
    return proxied ? std::optional(epoch_ms(ctx, ctx.upstream_start)) : std::nullopt;
  if (key == "KONG_PROXY_LATENCY")
    return proxied ? std::optional(ms_between(ctx.start, ctx.upstream_start)) : std::nullopt;
  if (key == "KONG_WAITING_TIME" && ctx.upstream_first_byte != core::Clock::time_point{})
    return ms_between(ctx.upstream_start, ctx.upstream_first_byte);
  for (size_t i = 0; i < std::size(kPhases); ++i) {
    const auto& time = ctx.phase_times[i];
    if (time.start == core::Clock::time_point{} || !key.starts_with("KONG_")) continue;
    auto rest = key.substr(5);
    if (!rest.starts_with(kPhases[i]) || rest.size() == kPhases[i].size() || rest[kPhases[i].size()] != '_')
      continue;
    rest.remove_prefix(kPhases[i].size() + 1);
    if (rest == "START") return epoch_ms(ctx, time.start);
    const bool ended = time.end != core::Clock::time_point{};
    if (rest == "ENDED_AT" && ended) return epoch_ms(ctx, time.end);
    if (rest == "TIME" && ended) return ms_between(time.start, time.end);
  }
  return std::nullopt;
}

// What a plugin stored with set_ctx, else Kong's timing keys (which Kong keeps in ngx.ctx).
PdkResult get_ctx(PdkCall& c) {
  auto key = c.string_arg(0, "key");
  auto it = c.ctx.nginx_ctx.find(key);
  if (it != c.ctx.nginx_ctx.end()) return nil_or(*it);
  if (auto ms = kong_timing(c.ctx, key)) return PdkResult::ok(*ms);
  return PdkResult::nil();
}

PdkResult set_ctx(PdkCall& c) {
  auto key = c.string_arg(0, "key");
  if (c.has(1)) {
    c.ctx.nginx_ctx[key] = c.arg(1);
  } else {
    if (c.ctx.nginx_ctx.is_object()) c.ctx.nginx_ctx.erase(key);
  }
  return PdkResult::nil();
}

// Stream connections (stream_listen) carry their protocol, tcp or tls, as the scheme.
PdkResult get_subsystem(PdkCall& c) {
  return PdkResult::ok(c.ctx.scheme == "tcp" || c.ctx.scheme == "tls" ? "stream" : "http");
}
// "TLSv1.3" on TLS connections; nil without TLS, as Kong.
PdkResult get_tls1_version_str(PdkCall& c) {
  return c.ctx.tls_protocol.empty() ? PdkResult::nil() : PdkResult::ok(c.ctx.tls_protocol);
}

PdkResult req_start_time(PdkCall& c) {
  using namespace std::chrono;
  return PdkResult::ok(duration_cast<duration<double>>(c.ctx.started_at.time_since_epoch()).count());
}

// ---- kong.ctx.shared ----

PdkResult shared_get(PdkCall& c) {
  auto key = c.string_arg(0, "key");
  auto it = c.ctx.ctx_shared.find(key);
  return it == c.ctx.ctx_shared.end() ? PdkResult::nil() : nil_or(*it);
}

PdkResult shared_set(PdkCall& c) {
  auto key = c.string_arg(0, "key");
  if (c.has(1)) {
    c.ctx.ctx_shared[key] = c.arg(1);
  } else {
    if (c.ctx.ctx_shared.is_object()) c.ctx.ctx_shared.erase(key);  // setting nil removes the key, as in Lua
  }
  return PdkResult::nil();
}

// ---- kong.log ----

std::string log_message(const PdkCall& c) {
  std::string message;
  if (c.args.is_array()) {
    for (const auto& a : c.args) message += lua_tostring(a);
  } else if (!c.args.is_null()) {
    message = lua_tostring(c.args);
  }
  return message;
}

// "[<plugin>] message", as Kong namespaces kong.log for each plugin.
template <spdlog::level::level_enum Level>
PdkResult log_at(PdkCall& c) {
  spdlog::log(Level, "[{}] {}", c.plugin.name, log_message(c));
  return PdkResult::nil();
}

// nginx's notice level, which Kong uses for kong.log.notice and kong.log(...).
PdkResult log_notice(PdkCall& c) {
  log::notice("[{}] {}", c.plugin.name, log_message(c));
  return PdkResult::nil();
}

PdkResult serialize(PdkCall& c) {
  return PdkResult::ok(serialize_log(c.ctx).dump(-1, ' ', false, json::error_handler_t::replace));
}

// set_serialize_value(key, value, {mode = "set" | "add" | "replace"}): recorded here, applied by
// serialize_log (so `add`/`replace` see the final structure).
PdkResult set_serialize_value(PdkCall& c) {
  auto key = c.string_arg(0, "key");
  std::string mode = "set";
  if (c.arg(2).is_object() && c.arg(2).contains("mode"))
    mode = c.arg(2)["mode"].is_string() ? c.arg(2)["mode"] : "";
  if (mode != "set" && mode != "add" && mode != "replace")
    throw PdkError("mode must be 'set', 'add' or 'replace'");
  c.ctx.serialize_overrides[key] = {{"mode", mode}, {"value", c.arg(1)}};
  return PdkResult::nil();
}

// ---- kong.ip, kong.plugin, kong.cluster ----

PdkResult ip_is_trusted(PdkCall& c) {
  return PdkResult::ok(is_trusted_ip(c.ctx, c.string_arg(0, "address")));
}
PdkResult plugin_get_id(PdkCall& c) {
  return PdkResult::ok(c.plugin.id);
}
// No cluster (no control plane): Kong's DB-less nodes answer nil too.
PdkResult cluster_get_id(PdkCall&) {
  return PdkResult::nil();
}

constexpr PdkFunction kNode[] = {
    {"kong.node.get_id", kAnyPhase, kReads, kStep, node_get_id},
    {"kong.node.get_hostname", kAnyPhase, kReads, kStep, node_get_hostname},
    {"kong.node.get_memory_stats", kAnyPhase, kReads, kStepMemoryStats, node_get_memory_stats},
    {"kong.nginx.get_var", kAnyPhase, kReads, kStep, get_var},
    {"kong.nginx.get_ctx", kAnyPhase, kReads, kStep, get_ctx},
    {"kong.nginx.set_ctx", kAnyPhase, kCalls, kStep, set_ctx},
    {"kong.nginx.get_subsystem", kAnyPhase, kReads, kStep, get_subsystem},
    {"kong.nginx.get_tls1_version_str", kAnyPhase, kReads, kStep, get_tls1_version_str},
    {"kong.nginx.req_start_time", kAnyPhase, kReads, kStep, req_start_time},
    {"kong.ctx.shared.get", kAnyPhase, kReads, kStep, shared_get},
    {"kong.ctx.shared.set", kAnyPhase, kCalls, kStep, shared_set},
    {"kong.log", kAnyPhase, kCalls, kStep, log_notice},
    {"kong.log.alert", kAnyPhase, kCalls, kStep, log_at<spdlog::level::critical>},
    {"kong.log.crit", kAnyPhase, kCalls, kStep, log_at<spdlog::level::critical>},
    {"kong.log.err", kAnyPhase, kCalls, kStep, log_at<spdlog::level::err>},
    {"kong.log.warn", kAnyPhase, kCalls, kStep, log_at<spdlog::level::warn>},
    {"kong.log.notice", kAnyPhase, kCalls, kStep, log_notice},
    {"kong.log.info", kAnyPhase, kCalls, kStep, log_at<spdlog::level::info>},
    {"kong.log.debug", kAnyPhase, kCalls, kStep, log_at<spdlog::level::debug>},
    {"kong.log.deprecation", kAnyPhase, kCalls, kStep, log_at<spdlog::level::warn>},
    {"kong.log.serialize", kAnyPhase, kReads, kStep, serialize},
    {"kong.log.set_serialize_value", kAnyPhase, kCalls, kStep, set_serialize_value},
    {"kong.ip.is_trusted", kAnyPhase, kReads, kStep, ip_is_trusted},
    {"kong.plugin.get_id", kAnyPhase, kReads, kStep, plugin_get_id},
    {"kong.cluster.get_id", kAnyPhase, kReads, kStep, cluster_get_id},
};

}  // namespace

std::span<const PdkFunction> node_functions() {
  return kNode;
}

}  // namespace gh::pdk
