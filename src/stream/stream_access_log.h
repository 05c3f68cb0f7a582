// The access log of stream connections: one line per connection, when it ends, in Kong's
// `basic` stream format (`proxy_stream_access_log = logs/access.log basic`):
//   $remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time
// followed by the route and service names (a gatehouse addition, as for HTTP).
#pragma once

#include <memory>
#include <string>

#include "common/line_log.h"

namespace gh::core {
struct RequestContext;
}

namespace gh::stream {

class StreamAccessLog {
 public:
  // The log writing to `target` (a path, "stdout", "stderr"; "off" or "": null); null too when
  // the file cannot be opened (logged: the connections are proxied without the log). Opened once
  // by the gateway, which shares it with every worker and reopens it on SIGUSR1.
  static std::shared_ptr<StreamAccessLog> open(const std::string& target);
  explicit StreamAccessLog(std::unique_ptr<log::LineLog> log) : log_(std::move(log)) {}

  void write(const core::RequestContext& ctx) const;
  void reopen() const { log_->reopen(); }
  // The line for a finished connection (without the newline).
  static std::string format(const core::RequestContext& ctx);

 private:
  std::unique_ptr<log::LineLog> log_;
};

}  // namespace gh::stream
