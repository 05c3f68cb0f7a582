// Error log. One process-wide spdlog logger; every module logs through it so that
// `log_level` and `proxy_error_log` apply everywhere.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace gh::log {

// Configures the process logger. `target` is a file path, "stderr" or "off" (Kong's
// proxy_error_log values); `level` is one of Kong's levels: debug, info, notice, warn,
// error, crit, alert, emerg. Throws std::invalid_argument for an unknown level.
void init(std::string_view level, std::string_view target);

// Maps a Kong/nginx log level name to spdlog's. Unknown names yield std::nullopt semantics
// by returning spdlog::level::n_levels.
spdlog::level::level_enum parse_level(std::string_view level);

}  // namespace gh::log

#define GH_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
