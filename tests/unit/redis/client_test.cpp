// The client against a fake server that answers malformed or partial bytes (what a real Redis
// never sends); the real behaviour against redis-server is in tests/integration/test_rate_limiting.py.
#include "redis/client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace gh::redis;

namespace {

// Accepts connections; on each, reads whatever comes and answers `reply` once.
asio::awaitable<void> fake_server(tcp::acceptor& acceptor, std::string reply) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(asio::use_awaitable);
    char buffer[4096];
    co_await socket.async_read_some(asio::buffer(buffer), asio::use_awaitable);
    if (!reply.empty()) co_await asio::async_write(socket, asio::buffer(reply), asio::use_awaitable);
    // Keep the socket open until the client gives up.
    boost::system::error_code ec;
    co_await socket.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
  }
}

Result run_against(const std::string& reply, size_t count = 1, int timeout_ms = 300) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Options options;
  options.host = "127.0.0.1";
  options.port = acceptor.local_endpoint().port();
  options.timeout_ms = timeout_ms;
  asio::co_spawn(io, fake_server(acceptor, reply), asio::detached);
  Result result;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::string commands;
        for (size_t i = 0; i < count; ++i) encode_command(commands, {"GET", "k"});
        result = co_await execute(std::make_shared<const Options>(options), commands, count);
        finished = true;
        io.stop();
      },
      asio::detached);
  io.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(finished);
  return result;
}

}  // namespace

TEST(RedisClient, GetsRepliesInOrder) {
  Result r = run_against("$1\r\n3\r\n$-1\r\n", 2);
  ASSERT_TRUE(r.error.empty()) << r.error;
  ASSERT_EQ(r.replies.size(), 2u);
  EXPECT_EQ(r.replies[0].text, "3");
  EXPECT_EQ(r.replies[1].type, Reply::Type::null);
}

TEST(RedisClient, MalformedReplyFailsTheCall) {
  Result r = run_against("%3\r\nxyz\r\n");
  EXPECT_NE(r.error.find("invalid reply from Redis"), std::string::npos) << r.error;
}

TEST(RedisClient, HugeDeclaredBulkIsRefusedAtOnce) {
  Result r = run_against("$999999999999\r\n");
  EXPECT_NE(r.error.find("invalid reply from Redis"), std::string::npos) << r.error;
}

TEST(RedisClient, PartialReplyTimesOut) {
  auto start = std::chrono::steady_clock::now();
  Result r = run_against("$10\r\nabc", 1, 200);
  EXPECT_EQ(r.error, "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(RedisClient, RefusedConnectionIsAnError) {
  asio::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Options options;
  options.host = "127.0.0.1";
  options.port = probe.local_endpoint().port();
  probe.close();  // nothing listens there now
  Result result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::string commands;
        encode_command(commands, {"PING"});
        result = co_await execute(std::make_shared<const Options>(options), commands, 1);
        io.stop();
      },
      asio::detached);
  io.run_for(std::chrono::seconds(5));
  EXPECT_NE(result.error.find("failed to connect to Redis"), std::string::npos) << result.error;
}
