#include "stream/stream_access_log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <map>
#include <mutex>

#include "common/log.h"
#include "core/request_context.h"

namespace gh::stream {

namespace {

std::shared_ptr<spdlog::logger> make_logger(const std::string& target) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (target == "stdout")
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  else if (target == "stderr")
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  else
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(target);
  auto logger = std::make_shared<spdlog::logger>("stream-access", std::move(sink));
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::string_view or_dash(std::string_view s) {
  return s.empty() ? std::string_view("-") : s;
}

}  // namespace

std::shared_ptr<StreamAccessLog> StreamAccessLog::open(const std::string& target) {
  if (target.empty() || target == "off") return nullptr;
  // One logger per target for the whole process: the workers' lines never interleave.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<StreamAccessLog>> open_logs;
  std::lock_guard lock(mutex);
  if (auto existing = open_logs[target].lock()) return existing;
  std::shared_ptr<spdlog::logger> logger;
  try {
    logger = make_logger(target);
  } catch (const spdlog::spdlog_ex& e) {  // e.g. an unwritable directory: proxy without the log
    spdlog::error("proxy_stream_access_log: cannot open '{}': {}", target, e.what());
    return nullptr;
  }
  auto log = std::make_shared<StreamAccessLog>(std::move(logger));
  open_logs[target] = log;
  return log;
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
  logger_->info(format(ctx));
}

}  // namespace gh::stream
