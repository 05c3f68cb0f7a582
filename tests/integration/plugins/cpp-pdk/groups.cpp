// The groups of cpp-pdk-probe: which kong.* calls a request makes, per phase. Arguments are the
// fixed values tests/integration/test_cpp_pdk.py expects (it sends the matching request).
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "probe.h"

namespace cpp_pdk_probe {
namespace {

void request_getters(pdk::Kong& kong, Record& r, const Config&) {
  auto& q = kong.request;
  r("kong.request.get_scheme", [&] { return q.get_scheme(); });
  r("kong.request.get_host", [&] { return q.get_host(); });
  r("kong.request.get_port", [&] { return q.get_port(); });
  r("kong.request.get_forwarded_scheme", [&] { return q.get_forwarded_scheme(); });
  r("kong.request.get_forwarded_host", [&] { return q.get_forwarded_host(); });
  r("kong.request.get_forwarded_port", [&] { return q.get_forwarded_port(); });
  r("kong.request.get_http_version", [&] { return q.get_http_version(); });
  r("kong.request.get_method", [&] { return q.get_method(); });
  r("kong.request.get_path", [&] { return q.get_path(); });
  r("kong.request.get_path_with_query", [&] { return q.get_path_with_query(); });
  r("kong.request.get_raw_query", [&] { return q.get_raw_query(); });
  r("kong.request.get_query_arg", [&] { return q.get_query_arg("x"); });
  r("kong.request.get_query_arg#missing", [&] { return q.get_query_arg("absent"); });
  r("kong.request.get_query_arg#flag", [&] { return q.get_query_arg("flag"); });
  r("kong.request.get_query", [&] { return q.get_query(); });
  r("kong.request.get_query#max2", [&] { return q.get_query(2); });
  r("kong.request.get_header", [&] { return q.get_header("x-probe"); });
  r("kong.request.get_header#missing", [&] { return q.get_header("x-absent"); });
  r("kong.request.get_headers", [&] { return q.get_headers(); });
  r("kong.request.get_raw_body", [&] { return q.get_raw_body(); });
  r("kong.request.get_uri_captures", [&] { return q.get_uri_captures(); });
}

void client_calls(pdk::Kong& kong, Record& r, const Config&) {
  auto& c = kong.client;
  r("kong.client.get_ip", [&] { return c.get_ip(); });
  r("kong.client.get_forwarded_ip", [&] { return c.get_forwarded_ip(); });
  r("kong.client.get_port", [&] { return c.get_port(); });
  r("kong.client.get_forwarded_port", [&] { return c.get_forwarded_port(); });
  r("kong.client.get_protocol", [&] { return c.get_protocol(); });
  r("kong.client.get_protocol#allow_terminated", [&] { return c.get_protocol(true); });
  r("kong.client.get_consumer#before", [&] { return c.get_consumer(); });
  r("kong.client.get_credential#before", [&] { return c.get_credential(); });
  std::optional<pdk::Consumer> alice;
  r("kong.client.load_consumer",
    [&] { return alice = c.load_consumer("4b1b1e1c-0000-4000-8000-00000000a11c"); });
  r("kong.client.load_consumer#by_username", [&] { return c.load_consumer("bob", true); });
  r("kong.client.load_consumer#unknown", [&] { return c.load_consumer("nobody", true); });
  const pdk::Credential credential{"cred-alice", alice ? alice->id : ""};
  r("kong.client.authenticate", [&] { c.authenticate(alice, credential); });
  r("kong.client.get_consumer", [&] { return c.get_consumer(); });
  r("kong.client.get_credential", [&] { return c.get_credential(); });
  r("kong.ip.is_trusted", [&] { return kong.ip.is_trusted("127.0.0.1"); });
  r("kong.ip.is_trusted#untrusted", [&] { return kong.ip.is_trusted("198.51.100.1"); });
}

void router_getters(pdk::Kong& kong, Record& r, const Config&) {
  r("kong.router.get_route", [&] { return kong.router.get_route(); });
  r("kong.router.get_service", [&] { return kong.router.get_service(); });
}

// ctx.shared and nginx.ctx are per request: set in access, read again in response and log.
void ctx_access(pdk::Kong& kong, Record& r, const Config&) {
  const pdk::Value shared = {{"n", 1}, {"list", {1, "two", true}}, {"nested", {{"k", "v"}}}};
  r("kong.ctx.shared.set", [&] { kong.ctx.shared.set("probe", shared); });
  r("kong.ctx.shared.get", [&] { return kong.ctx.shared.get("probe"); });
  r("kong.ctx.shared.get#unset", [&] { return kong.ctx.shared.get("never-set"); });
  r("kong.nginx.set_ctx", [&] { kong.nginx.set_ctx("probe_ctx", "ctx-value"); });
  r("kong.nginx.get_ctx", [&] { return kong.nginx.get_ctx("probe_ctx"); });
  r("kong.nginx.get_var", [&] { return kong.nginx.get_var("request_method"); });
  r("kong.nginx.get_var#header", [&] { return kong.nginx.get_var("http_x_probe"); });
  r("kong.nginx.get_var#uri", [&] { return kong.nginx.get_var("uri"); });
  r("kong.nginx.get_tls1_version_str", [&] { return kong.nginx.get_tls1_version_str(); });
  r("kong.nginx.req_start_time", [&] { return kong.nginx.req_start_time(); });
  r("kong.nginx.get_subsystem", [&] { return kong.nginx.get_subsystem(); });
  r("kong.node.get_id", [&] { return kong.node.get_id(); });
  r("kong.node.get_memory_stats", [&] { return kong.node.get_memory_stats(); });
}

void ctx_later(pdk::Kong& kong, Record& r, const Config&) {
  r("kong.ctx.shared.get", [&] { return kong.ctx.shared.get("probe"); });
  r("kong.nginx.get_ctx", [&] { return kong.nginx.get_ctx("probe_ctx"); });
}

// Each level writes a distinct token the test looks for in the gateway's log.
void log_access(pdk::Kong& kong, Record& r, const Config&) {
  auto& log = kong.log;
  r("kong.log.alert", [&] { log.alert("cpp-probe-alert", 1); });
  r("kong.log.crit", [&] { log.crit("cpp-probe-crit", 2); });
  r("kong.log.err", [&] { log.err("cpp-probe-err", 3); });
  r("kong.log.warn", [&] { log.warn("cpp-probe-warn", 4); });
  r("kong.log.notice", [&] { log.notice("cpp-probe-notice", 5); });
  r("kong.log.info", [&] { log.info("cpp-probe-info", 6); });
  r("kong.log.debug", [&] { log.debug("cpp-probe-debug", 7); });
  r("kong.log.set_serialize_value", [&] { log.set_serialize_value("probe_extra", "from-cpp"); });
  r("kong.log.serialize", [&] { return pdk::Value::parse(log.serialize()); });
}

void log_phase(pdk::Kong& kong, Record& r, const Config&) {
  r("kong.log.serialize", [&] { return pdk::Value::parse(kong.log.serialize()); });
}

// Response phase (the upstream's answer is buffered): read it, then change what the client gets.
void response_calls(pdk::Kong& kong, Record& r, const Config&) {
  auto& res = kong.response;
  r("kong.response.get_status", [&] { return res.get_status(); });
  r("kong.response.get_header", [&] { return res.get_header("x-upstream-name"); });
  r("kong.response.get_headers", [&] { return res.get_headers(); });
  r("kong.response.get_source", [&] { return res.get_source(); });
  r("kong.response.set_status", [&] { res.set_status(299); });
  r("kong.response.set_header", [&] { res.set_header("x-probe-set", "set"); });
  r("kong.response.add_header", [&] { res.add_header("x-probe-added", "one"); });
  r("kong.response.add_header#second", [&] { res.add_header("x-probe-added", "two"); });
  r("kong.response.clear_header", [&] { res.clear_header("x-upstream-name"); });
  r("kong.response.set_headers", [&] {
    res.set_headers({{"x-probe-multi", {"m1", "m2"}}, {"x-probe-single", {"s"}}});
  });
  r("kong.response.get_status#after", [&] { return res.get_status(); });
  r("kong.response.get_header#after", [&] { return res.get_header("x-probe-set"); });
}

void service_request_setters(pdk::Kong& kong, Record& r, const Config&) {
  auto& s = kong.service.request;
  r("kong.service.request.set_scheme", [&] { s.set_scheme("http"); });
  r("kong.service.request.set_method", [&] { s.set_method("PUT"); });
  r("kong.service.request.set_path", [&] { s.set_path("/probe/new-path"); });
  r("kong.service.request.set_query", [&] { s.set_query({{"q", {"1", "2"}}, {"z", {"x y"}}}); });
  r("kong.service.request.set_header", [&] { s.set_header("x-probe-set", "set"); });
  r("kong.service.request.add_header", [&] { s.add_header("x-probe-added", "one"); });
  r("kong.service.request.add_header#second", [&] { s.add_header("x-probe-added", "two"); });
  r("kong.service.request.clear_header", [&] { s.clear_header("x-remove-me"); });
  r("kong.service.request.set_headers", [&] { s.set_headers({{"x-probe-multi", {"m1", "m2"}}}); });
  r("kong.service.request.set_raw_body", [&] { s.set_raw_body("body from cpp"); });
}

void service_target(pdk::Kong& kong, Record& r, const Config& config) {
  r("kong.service.set_target", [&] { kong.service.set_target(config.target_host, config.target_port); });
  r("kong.service.request.set_raw_query", [&] { kong.service.request.set_raw_query("raw=1&flag"); });
}

void service_upstream(pdk::Kong& kong, Record& r, const Config& config) {
  r("kong.service.set_upstream#unknown", [&] { return kong.service.set_upstream("no-such-upstream"); });
  r("kong.service.set_upstream", [&] { return kong.service.set_upstream(config.upstream); });
}

void service_response_getters(pdk::Kong& kong, Record& r, const Config&) {
  auto& s = kong.service.response;
  r("kong.service.response.get_status", [&] { return s.get_status(); });
  r("kong.service.response.get_header", [&] { return s.get_header("x-upstream-name"); });
  r("kong.service.response.get_headers", [&] { return s.get_headers(); });
  r("kong.service.response.get_raw_body", [&] { return s.get_raw_body(); });
}

// kong.response.exit carries the record itself: the client sees it only if the exit worked.
void exit_access(pdk::Kong& kong, Record& r, const Config&) {
  r("kong.request.get_method", [&] { return kong.request.get_method(); });
  r.note("phase", "access");
  r.mark_sent();
  kong.response.exit(403, r.dump(), {{"Content-Type", {"application/json"}}, {"x-pdk-exit", {"by cpp"}}});
}

void exit_response(pdk::Kong& kong, Record& r, const Config&) {
  r("kong.service.response.get_raw_body", [&] { return kong.service.response.get_raw_body(); });
  r.note("phase", "response");
  r.mark_sent();
  kong.response.exit(202, r.dump(), {{"Content-Type", {"application/json"}}});
}

// The ordering rules of Gatehouse:1 (docs/protocol.md), which ProtoBuf:1 must give too: a write then
// a read of the same data, a write the gateway refuses (lost: the next one still applies), and a read
// whose argument is only known at run time (never prefetched for a new value).
void order(pdk::Kong& kong, Record& r, const Config&) {
  r("kong.ctx.shared.get#before", [&] { return kong.ctx.shared.get("order"); });
  r("kong.ctx.shared.set", [&] { kong.ctx.shared.set("order", "written"); });
  r("kong.ctx.shared.get#after", [&] { return kong.ctx.shared.get("order"); });
  r("kong.service.request.set_method#invalid", [&] { kong.service.request.set_method("NOT A METHOD"); });
  r("kong.service.request.set_header#after_error",
    [&] { kong.service.request.set_header("x-after-error", "applied"); });
  const std::string which = kong.request.get_header("x-which");
  r("kong.request.get_header#dynamic", [&] { return kong.request.get_header(which); });
}

// kong.response.exit between writes: the writes before it apply, the ones after it fail locally.
void exit_batch(pdk::Kong& kong, Record& r, const Config&) {
  kong.response.set_header("x-before-exit", "applied");
  r.mark_sent();
  kong.response.exit(403, "stopped", {{"x-exit", {"yes"}}});
  try {
    kong.response.set_header("x-after-exit", "applied");
  } catch (const pdk::PdkError&) {
    // expected: the event has ended
  }
}

// Reads it declares (see Plugin::reads), and one it does not: learned, prefetched from the next event.
void declared(pdk::Kong& kong, Record& r, const Config& config) {
  r("kong.request.get_header", [&] { return kong.request.get_header(config.declared_header); });
  r("kong.request.get_path", [&] { return kong.request.get_path(); });
  r("kong.client.get_ip", [&] { return kong.client.get_ip(); });
  r("kong.request.get_header#undeclared", [&] { return kong.request.get_header("x-undeclared"); });
}

void touch(const std::string& path) {
  if (!path.empty()) std::ofstream(path) << "entered\n";
}

void hang(pdk::Kong&, Record& r, const Config& config) {
  touch(config.marker_file);
  std::this_thread::sleep_for(std::chrono::milliseconds(config.sleep_ms));
  r.note("woke", true);
}

[[noreturn]] void crash(pdk::Kong&, Record&, const Config& config) {
  touch(config.marker_file);
  std::_Exit(3);  // the whole plugin server dies in the middle of the event
}

[[noreturn]] void throw_error(pdk::Kong&, Record&, const Config&) {
  throw std::runtime_error("cpp-pdk-probe threw on purpose");
}

struct GroupStep {
  std::string_view group;
  std::string_view phase;
  Step step;
};

constexpr GroupStep kSteps[] = {
    {"request", "access", request_getters},
    {"client", "access", client_calls},
    {"router", "access", router_getters},
    {"ctx", "access", ctx_access},
    {"ctx", "response", ctx_later},
    {"ctx", "log", ctx_later},
    {"log", "access", log_access},
    {"log", "log", log_phase},
    {"response", "response", response_calls},
    {"service-request", "access", service_request_setters},
    {"service-target", "access", service_target},
    {"service-upstream", "access", service_upstream},
    {"service-response", "response", service_response_getters},
    {"exit", "access", exit_access},
    {"exit-response", "response", exit_response},
    {"order", "access", order},
    {"exit-batch", "access", exit_batch},
    {"hang", "access", hang},
    {"crash", "access", crash},
    {"throw", "access", throw_error},
    {"declared", "access", declared},
};

}  // namespace

Step step_for(std::string_view group, std::string_view phase) {
  for (const auto& s : kSteps) {
    if (s.group == group && s.phase == phase) return s.step;
  }
  return nullptr;
}

pdk::Reads Plugin::reads(std::string_view phase) const {
  pdk::Reads reads;
  if (config_.group != "declared" || phase != "access") return reads;
  auto& kong = reads.kong();
  kong.request.get_header(config_.declared_header);  // from the config: declarations are per instance
  kong.request.get_path();
  kong.client.get_ip();
  // Wrong on purpose: a write (must never run) and a read with effects; the gateway refuses both.
  kong.response.set_header("x-declared-write", "ran");
  kong.client.load_consumer("bob", true);
  return reads;
}

void Plugin::run(pdk::Kong& kong, std::string_view phase) const {
  Step step = step_for(config_.group, phase);
  if (!step) return;  // no PDK call at all in the phases a group does not use
  Record record;
  record.note("phase", std::string(phase));
  record.note("group", config_.group);
  step(kong, record, config_);
  if (record.sent()) return;
  if (phase == "log") {
    std::ofstream(config_.report_file, std::ios::app) << record.dump() << "\n";
  } else {
    kong.response.set_header("x-pdk-" + std::string(phase), record.dump());
  }
}

}  // namespace cpp_pdk_probe
