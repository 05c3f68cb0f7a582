// Error log. One process-wide spdlog logger; every module logs through it so that
// `log_level` and `proxy_error_log` apply everywhere.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>
#include <utility>

namespace gh::log {

// Configures the process logger. `target` is a file path, "stderr" or "off" (Kong's
// proxy_error_log values); `level` is one of Kong's levels: debug, info, notice, warn,
// error, crit, alert, emerg. Throws std::invalid_argument for an unknown level.
void init(std::string_view level, std::string_view target);

// The logger for nginx's `notice` level (between info and warn), which spdlog does not have: it
// shares the process logger's sinks and level, logs at spdlog's info, and its lines say
// "[notice]". kong.log.notice and kong.log(...) write here, as Kong writes them at notice.
spdlog::logger& notice_logger();

template <typename... Args>
void notice(spdlog::format_string_t<Args...> format, Args&&... args) {
  notice_logger().info(format, std::forward<Args>(args)...);
}

// Maps a Kong/nginx log level name to spdlog's. Unknown names yield std::nullopt semantics
// by returning spdlog::level::n_levels.
spdlog::level::level_enum parse_level(std::string_view level);

}  // namespace gh::log

#define GH_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
