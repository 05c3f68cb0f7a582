#include "stream/stream_access_log.h"

#include <gtest/gtest.h>

#include "conf/entities.h"
#include "core/request_context.h"

namespace gh::stream {
namespace {

TEST(StreamAccessLog, KongsBasicFormatThenRouteAndService) {
  conf::Route route;
  route.name = "db";
  conf::Service service;
  service.name = "postgres";
  core::RequestContext ctx;
  ctx.remote_ip = "10.0.0.7";
  ctx.started_at =
      std::chrono::system_clock::time_point(std::chrono::seconds(1764152400));  // 2025-11-26 10:20:00
  ctx.end = ctx.start + std::chrono::milliseconds(1234);
  ctx.response.status = 200;
  ctx.response_bytes = 13;
  ctx.request_bytes = 8;
  ctx.match = router::RouteMatch{&route, &service, "", "", "", {}, {}};
  EXPECT_EQ(StreamAccessLog::format(ctx),
            "10.0.0.7 [26/Nov/2025:10:20:00 +0000] TCP 200 13 8 1.234 \"db\" \"postgres\"");
}

TEST(StreamAccessLog, UnroutedConnectionsHaveDashes) {
  core::RequestContext ctx;
  ctx.remote_ip = "127.0.0.1";
  ctx.started_at = std::chrono::system_clock::time_point(std::chrono::seconds(1764152400));
  ctx.end = ctx.start;
  ctx.response.status = 500;
  auto line = StreamAccessLog::format(ctx);
  EXPECT_TRUE(line.ends_with("TCP 500 0 0 0.000 \"-\" \"-\"")) << line;
}

TEST(StreamAccessLog, OffMeansNoLog) {
  EXPECT_EQ(StreamAccessLog::open("off"), nullptr);
  EXPECT_EQ(StreamAccessLog::open(""), nullptr);
}

}  // namespace
}  // namespace gh::stream
