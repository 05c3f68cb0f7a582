#include "common/line_log.h"

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace gh::log {

// spdlog's basic file sink, with a reopen: its file_helper keeps the path it was opened with.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(const std::string& path) {
    file_.open(path);
    open_ = true;
  }

  void reopen() {
    std::lock_guard lock(mutex_);
    open_ = false;  // file_helper closes first; a failed open leaves no file to write to
    try {
      file_.reopen(false);
      open_ = true;
    } catch (const spdlog::spdlog_ex& e) {
      spdlog::error("cannot reopen log file: {}", e.what());
    }
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (!open_) return;
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_.write(formatted);
  }
  void flush_() override {
    if (open_) file_.flush();
  }

 private:
  spdlog::details::file_helper file_;
  bool open_ = false;
};

LineLog::LineLog(const std::string& name, const std::string& target) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (target == "stdout") {
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  } else if (target == "stderr") {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    file_ = std::make_shared<ReopenableFileSink>(target);
    sink = file_;
  }
  logger_ = std::make_shared<spdlog::logger>(name, std::move(sink));
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
  logger_->flush_on(spdlog::level::info);
}

LineLog::~LineLog() = default;

void LineLog::reopen() {
  if (file_) file_->reopen();
}

}  // namespace gh::log
