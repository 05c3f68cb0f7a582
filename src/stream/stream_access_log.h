// The access log of stream connections: one line per connection, when it ends, in Kong's
// `basic` stream format (`proxy_stream_access_log = logs/access.log basic`):
//   $remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time
// followed by the route and service names (a gatehouse addition, as for HTTP).
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace gh::core {
struct RequestContext;
}

namespace gh::stream {

class StreamAccessLog {
 public:
  // The log writing to `target` (a path, "stdout", "stderr"; "off" or "": null), shared by every
  // worker of the process.
  static std::shared_ptr<StreamAccessLog> open(const std::string& target);
  explicit StreamAccessLog(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

  void write(const core::RequestContext& ctx) const;
  // The line for a finished connection (without the newline).
  static std::string format(const core::RequestContext& ctx);

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace gh::stream
