// A log of whole lines (the access logs) to a file, stdout or stderr, shared by every worker of
// the process (a line is written whole: the workers' lines never interleave). A file is reopened
// on request: SIGUSR1 after a log rotation moved it away, as nginx reopens its logs.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace gh::log {

class ReopenableFileSink;

class LineLog {
 public:
  // `target`: a file path, "stdout" or "stderr"; `name` names the logger (for spdlog's own
  // errors). Throws spdlog::spdlog_ex when the file cannot be opened.
  LineLog(const std::string& name, const std::string& target);
  ~LineLog();

  void write(std::string_view line) { logger_->info(line); }
  // The line fmt makes of `format` and `args` (formatted in place, no string made).
  template <typename... Args>
  void write_formatted(spdlog::format_string_t<Args...> format, Args&&... args) {
    logger_->info(format, std::forward<Args>(args)...);
  }
  // A file target is opened again by its path (a rotated file gets a new one). A file that cannot
  // be opened is logged; lines are dropped until a later reopen succeeds.
  void reopen();

 private:
  std::shared_ptr<ReopenableFileSink> file_;  // null for stdout/stderr
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace gh::log
