#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <stdexcept>

namespace gh::log {

namespace {

constexpr std::string_view kNoticeLogger = "notice";
std::shared_ptr<spdlog::logger> notice_logger_;

// %L in the pattern: the level's name, "notice" for the notice logger's lines.
class LevelName final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    auto name = msg.logger_name == kNoticeLogger
                    ? spdlog::string_view_t(kNoticeLogger.data(), kNoticeLogger.size())
                    : spdlog::level::to_string_view(msg.level);
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<LevelName>(); }
};

// nginx-like line: time [level] tid message
std::unique_ptr<spdlog::formatter> line_format() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<LevelName>('*').set_pattern("%Y/%m/%d %H:%M:%S.%e [%*] %t %v");
  return formatter;
}

}  // namespace

spdlog::logger& notice_logger() {
  return notice_logger_ ? *notice_logger_ : *spdlog::default_logger_raw();
}

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

  logger->set_formatter(line_format());
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::debug);
  auto notice = std::make_shared<spdlog::logger>(std::string(kNoticeLogger), logger->sinks().begin(),
                                                 logger->sinks().end());
  notice->set_level(parsed);
  notice->flush_on(spdlog::level::debug);
  notice_logger_ = std::move(notice);
  spdlog::set_default_logger(logger);
}

}  // namespace gh::log
