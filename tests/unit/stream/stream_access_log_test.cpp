#include "stream/stream_access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Log rotation: the file is renamed away, then the gateway reopens (SIGUSR1); the next line goes
// to a new file of the configured name, the earlier ones stay in the renamed one.
TEST(StreamAccessLog, ReopenStartsANewFileAfterARename) {
  const auto dir = std::filesystem::temp_directory_path() / ("gh-stream-log-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "stream-access.log";
  auto log = StreamAccessLog::open(path.string());
  ASSERT_NE(log, nullptr);
  core::RequestContext ctx;
  ctx.remote_ip = "192.0.2.1";
  log->write(ctx);
  std::filesystem::rename(path, dir / "stream-access.log.1");
  ctx.remote_ip = "192.0.2.2";
  log->write(ctx);  // still the renamed file: it is open
  log->reopen();
  ctx.remote_ip = "192.0.2.3";
  log->write(ctx);
  const auto rotated = read_file(dir / "stream-access.log.1");
  const auto fresh = read_file(path);
  std::filesystem::remove_all(dir);
  EXPECT_NE(rotated.find("192.0.2.1 "), std::string::npos) << rotated;
  EXPECT_NE(rotated.find("192.0.2.2 "), std::string::npos) << rotated;
  EXPECT_EQ(fresh.find("192.0.2.2 "), std::string::npos) << fresh;
  EXPECT_EQ(fresh.rfind("192.0.2.3 ", 0), 0u) << fresh;
}

}  // namespace
}  // namespace gh::stream
