// The proxy access log. Two formats (docs/logging.md):
//   combined  nginx's combined format plus Kong's latencies, route and service:
//     1.2.3.4 - - [26/Nov/2026:10:00:00 +0000] "GET /x HTTP/1.1" 200 12 "-" "curl/7.88" 5 3 2 "route"
//     "service" id (request_time_ms upstream_latency_ms gateway_latency_ms "route" "service" request_id)
//   json      one JSON object per line with the same fields, named.
#pragma once

#include <memory>
#include <string>

#include "common/line_log.h"
#include "core/request_context.h"

namespace gh::proxy {

using core::Clock;
using core::RequestContext;

class AccessLog {
 public:
  // `target`: a file path, "stdout", "stderr" or "off".
  AccessLog(const std::string& target, const std::string& format);
  void write(const RequestContext& ctx);
  void reopen();  // SIGUSR1: a file target is opened again (log rotation)

 private:
  std::unique_ptr<log::LineLog> log_;  // null: off
  bool json_ = false;
};

}  // namespace gh::proxy
