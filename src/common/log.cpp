#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <stdexcept>

namespace gh::log {

spdlog::level::level_enum parse_level(std::string_view level) {
  using L = spdlog::level::level_enum;
  if (level == "debug") return L::debug;
  if (level == "info" || level == "notice") return L::info;
  if (level == "warn") return L::warn;
  if (level == "error") return L::err;
  if (level == "crit" || level == "alert" || level == "emerg") return L::critical;
  return L::n_levels;
}

void init(std::string_view level, std::string_view target) {
  auto parsed = parse_level(level);
  if (parsed == spdlog::level::n_levels)
    throw std::invalid_argument("unknown log_level '" + std::string(level) + "'");

  std::shared_ptr<spdlog::logger> logger;
  if (target == "off")
    logger = std::make_shared<spdlog::logger>("gatehouse", std::make_shared<spdlog::sinks::null_sink_mt>());
  else if (target == "stderr" || target == "/dev/stderr" || target.empty())
    logger = std::make_shared<spdlog::logger>("gatehouse", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  else if (target == "stdout" || target == "/dev/stdout")
    logger = std::make_shared<spdlog::logger>("gatehouse", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  else
    logger = std::make_shared<spdlog::logger>(
        "gatehouse", std::make_shared<spdlog::sinks::basic_file_sink_mt>(std::string(target)));

  // nginx-like line: time [level] tid message
  logger->set_pattern("%Y/%m/%d %H:%M:%S.%e [%l] %t %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

}  // namespace gh::log
