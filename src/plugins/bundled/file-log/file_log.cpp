// file-log (Kong's kong/plugins/file-log): appends Kong's log entry of every request, one JSON
// object per line, to `path` (created 0644). The file stays open; `reopen: true` reopens it for
// every write, as Kong does. Beyond Kong (which needs reopen for rotation): SIGUSR1 and reloads
// make every file-log reopen its file before its next write, so a rotated file (renamed away)
// is followed by a new one at `path` without reopening per request. Writes happen on the log
// shipping thread (the gateway's logsink::LogSinks), never in the worker serving the request.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "plugins/bundled/log_plugins.h"

namespace gh::plugins {
namespace {

using nlohmann::json;

// The open file of one path; used on the log shipping thread only.
class FileSink {
 public:
  // `sinks`: whose reopen generation the file follows (it outlives the sink: its thread writes).
  FileSink(const logsink::LogSinks& sinks, std::string path, bool reopen_every_write)
      : sinks_(sinks), path_(std::move(path)), reopen_(reopen_every_write) {}
  ~FileSink() { close(); }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  // Appends the entries, a line each. "" or why not.
  std::string write(const logsink::Batch& batch) {
    if (fd_ >= 0 && (reopen_ || generation_ != sinks_.reopen_generation())) close();
    if (fd_ < 0) {
      generation_ = sinks_.reopen_generation();  // before opening: a request meanwhile reopens again
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd_ < 0) return std::string("failed to open the file: ") + std::strerror(errno);
    }
    std::string lines;
    for (const auto& entry : batch) {
      lines += entry;
      lines += '\n';
    }
    for (size_t done = 0; done < lines.size();) {
      const ssize_t n = ::write(fd_, lines.data() + done, lines.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::string("failed to write to the file: ") + std::strerror(errno);
      done += static_cast<size_t>(n);
    }
    return "";
  }

 private:
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  const logsink::LogSinks& sinks_;
  std::string path_;
  bool reopen_;
  int fd_ = -1;
  uint64_t generation_ = 0;
};

std::unique_ptr<NativeHandler> make(const json& config, SharedMemory& memory) {
  bundled::refuse_custom_fields_by_lua(config);
  const std::string path = config.at("path").get<std::string>();
  const bool reopen = config.value("reopen", false);
  // Kong writes each entry as it comes: no batching delay, no retry of a failed write.
  logsink::QueueOptions options;
  options.max_batch_size = 100;
  options.max_coalescing_delay = 0;
  options.max_retry_time = -1;
  auto sink = std::make_shared<FileSink>(memory.log_sinks, path, reopen);
  auto sender = [sink](const logsink::Batch& batch) -> boost::asio::awaitable<std::string> {
    co_return sink->write(batch);
  };
  return std::make_unique<bundled::QueuedLogHandler>(
      memory.log_sinks.queue("file-log", path, path + (reopen ? "\nreopen" : ""), options, sender));
}

NativePluginSpec spec() {
  return {
      "file-log",
      "3.9.0",
      9,
      core::bit(core::Phase::log),
      {{"name", "file-log"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {{{"path",
                {{"type", "string"},
                 {"required", true},
                 {"match", "^[^*&%%\\`]+$"},
                 {"err", "not a valid filename"}}}},
              {{"reopen", {{"type", "boolean"}, {"required", true}, {"default", false}}}},
              bundled::lua_code_field()}}}}}}}},
      make,
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
