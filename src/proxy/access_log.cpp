#include "proxy/access_log.h"

#include <fmt/chrono.h>

#include <nlohmann/json.hpp>

namespace gh::proxy {

namespace {

long ms(Clock::time_point a, Clock::time_point b) {
  if (a == Clock::time_point{} || b == Clock::time_point{} || b < a) return 0;
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

std::string_view or_dash(std::string_view s) {
  return s.empty() ? std::string_view("-") : s;
}

}  // namespace

AccessLog::AccessLog(const std::string& target, const std::string& format) : json_(format == "json") {
  if (target == "off" || target.empty()) return;
  log_ = std::make_unique<log::LineLog>("access", target);
}

void AccessLog::reopen() {
  if (log_) log_->reopen();
}

void AccessLog::write(const RequestContext& ctx) {
  if (!log_ || !ctx.request) return;
  const auto& req = *ctx.request;
  const long total = ms(ctx.start, ctx.end);
  const long upstream = ms(ctx.upstream_start, ctx.upstream_first_byte);
  const long gateway = ctx.upstream_start != Clock::time_point{} ? ms(ctx.start, ctx.upstream_start) : total;
  std::string_view route, service;
  if (ctx.match) {
    if (ctx.match->route) route = ctx.match->route->name;
    if (ctx.match->service) service = ctx.match->service->name;
  }
  auto referer = req.headers.get("referer").value_or("");
  auto agent = req.headers.get("user-agent").value_or("");
  if (json_) {
    nlohmann::json line = {
        {"client_ip", ctx.client_ip},
        {"started_at",
         std::chrono::duration_cast<std::chrono::milliseconds>(ctx.started_at.time_since_epoch()).count()},
        {"method", req.method},
        {"uri", req.target},
        {"status", ctx.response.status},
        {"bytes_sent", ctx.response_bytes},
        {"latencies", {{"request", total}, {"proxy", upstream}, {"kong", gateway}}},
        {"route", route},
        {"service", service},
        {"upstream", ctx.upstream_addr},
        {"request_id", ctx.request_id},
        {"user_agent", agent},
    };
    log_->write(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  auto now = std::chrono::system_clock::to_time_t(ctx.started_at);
  log_->write_formatted(
      "{} - - [{:%d/%b/%Y:%H:%M:%S} +0000] \"{} {} HTTP/{}.{}\" {} {} \"{}\" \"{}\" {} {} {} \"{}\" \"{}\" "
      "{}",
      ctx.client_ip, fmt::gmtime(now), req.method, req.target, req.version_major, req.version_minor,
      ctx.response.status, ctx.response_bytes, or_dash(referer), or_dash(agent), total, upstream, gateway,
      or_dash(route), or_dash(service), ctx.request_id);
}

}  // namespace gh::proxy
