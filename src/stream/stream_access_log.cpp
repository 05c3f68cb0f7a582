#include "stream/stream_access_log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/log.h"
#include "core/request_context.h"

namespace gh::stream {

namespace {

std::string_view or_dash(std::string_view s) {
  return s.empty() ? std::string_view("-") : s;
}

}  // namespace

std::shared_ptr<StreamAccessLog> StreamAccessLog::open(const std::string& target) {
  if (target.empty() || target == "off") return nullptr;
  try {
    return std::make_shared<StreamAccessLog>(std::make_unique<log::LineLog>("stream-access", target));
  } catch (const spdlog::spdlog_ex& e) {  // e.g. an unwritable directory: proxy without the log
    spdlog::error("proxy_stream_access_log: cannot open '{}': {}", target, e.what());
    return nullptr;
  }
}

std::string StreamAccessLog::format(const core::RequestContext& ctx) {
  using namespace std::chrono;
  const auto session =
      ctx.end > ctx.start ? duration_cast<milliseconds>(ctx.end - ctx.start) : milliseconds(0);
  std::string_view route, service;
  if (ctx.match && ctx.match->route) route = ctx.match->route->name;
  if (ctx.match && ctx.match->service) service = ctx.match->service->name;
  return fmt::format("{} [{:%d/%b/%Y:%H:%M:%S} +0000] TCP {} {} {} {}.{:03} \"{}\" \"{}\"", ctx.remote_ip,
                     fmt::gmtime(system_clock::to_time_t(ctx.started_at)), ctx.response.status,
                     ctx.response_bytes, ctx.request_bytes, session.count() / 1000, session.count() % 1000,
                     or_dash(route), or_dash(service));
}

void StreamAccessLog::write(const core::RequestContext& ctx) const {
  log_->write(format(ctx));
}

}  // namespace gh::stream
