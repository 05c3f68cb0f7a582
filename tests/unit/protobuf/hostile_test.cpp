// The Client against misbehaving servers on a real Unix socket: every failure is a clean RpcError
// of the right kind, promptly, and the connection is never reused afterwards.
#include <gtest/gtest.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "pluginserver/protobuf/client.h"
#include "pluginserver/protobuf/connection.h"
#include "proto/pluginsocket.pb.h"
#include "support.h"

namespace gh::pluginserver::protobuf {
namespace {

namespace asio = boost::asio;
namespace kp = kong_plugin_protocol;
using namespace std::chrono_literals;
using nlohmann::json;

// Reads the RpcCall the gateway sends (failing the script if it is not one).
kp::RpcCall read_call(test::ScriptServer& s, int fd) {
  kp::RpcCall call;
  auto payload = s.read_frame(fd);
  if (!payload || !call.ParseFromString(*payload)) s.fail("expected an RpcCall");
  return call;
}

std::string instance_status_frame(std::int64_t sequence, int id) {
  kp::RpcReturn ret;
  ret.set_sequence(sequence);
  ret.mutable_instance_status()->set_name("p");
  ret.mutable_instance_status()->set_instance_id(id);
  return test::frame(ret);
}

std::string return_frame(std::int64_t sequence) {
  kp::RpcReturn ret;
  ret.set_sequence(sequence);
  return test::frame(ret);
}

std::string string_arg(const std::string& v) {
  kp::String s;
  s.set_v(v);
  return test::frame(s);
}

// Records the calls and answers each with `answer`.
struct RecordingPdk : PdkHandler {
  std::vector<std::pair<std::string, json>> calls;
  PdkResult answer = PdkResult::ok("value");
  std::chrono::milliseconds delay{0};
  bool throws = false;

  asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view method, json args) override {
    calls.emplace_back(std::string(method), std::move(args));
    if (delay.count() > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor, delay);
      co_await timer.async_wait(asio::use_awaitable);
    }
    if (throws) throw std::runtime_error("API disabled in the current context");
    co_return answer;
  }
};

struct Fixture : testing::Test {
  test::ScriptServer server;
  asio::io_context io;
  std::chrono::milliseconds timeout = 2s;

  Client client() { return Client(io.get_executor(), server.path(), timeout); }

  // Runs `op`, expecting an RpcError of `kind`; returns how long it took.
  template <typename T>
  std::chrono::milliseconds expect_error(asio::awaitable<T> op, ErrorKind kind) {
    const auto start = std::chrono::steady_clock::now();
    try {
      test::run(io, std::move(op));
      ADD_FAILURE() << "no error, expected " << to_string(kind);
    } catch (const RpcError& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  }

  void TearDown() override {
    for (const auto& f : server.failures()) ADD_FAILURE() << "server: " << f;
  }
};

TEST_F(Fixture, MissingSocketIsAConnectError) {
  Client c(io.get_executor(), "/tmp/gh-pb-no-such.sock", timeout);
  expect_error(c.start_instance("p", "{}"), ErrorKind::transport);
}

TEST_F(Fixture, OversizedLengthIsAProtocolErrorWithoutAllocating) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    s.write_all(fd, std::string("\xff\xff\xff\xff", 4));
    s.peer_closes_silently(fd, 2s);
  });
  auto c = client();
  EXPECT_LT(expect_error(c.start_instance("p", "{}"), ErrorKind::protocol), 1s);
}

TEST_F(Fixture, TruncatedFrameIsAProtocolError) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    s.write_all(fd, std::string("\x64\x00\x00\x00", 4) + "only ten b");
    s.close_fd(fd);
  });
  auto c = client();
  expect_error(c.start_instance("p", "{}"), ErrorKind::protocol);
}

TEST_F(Fixture, GarbageReturnIsAProtocolError) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    s.write_all(fd, test::frame(std::string("\x0f\xff\xfe\x07garbage", 11)));
    s.peer_closes_silently(fd, 2s);
  });
  auto c = client();
  expect_error(c.start_instance("p", "{}"), ErrorKind::protocol);
}

TEST_F(Fixture, UnimplementedCommandAnswerIsAProtocolError) {
  // go-pdk answers commands it does not implement with a zero-length frame (sequence 0).
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    s.write_all(fd, test::frame(std::string()));
    s.peer_closes_silently(fd, 2s);
  });
  auto c = client();
  expect_error(c.start_instance("p", "{}"), ErrorKind::protocol);
}

TEST_F(Fixture, ServerClosingInsteadOfStartingIsRejected) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    s.close_fd(fd);  // go-pdk on a config it cannot decode
  });
  auto c = client();
  expect_error(c.start_instance("p", "{not json"), ErrorKind::rejected);
}

TEST_F(Fixture, GarbageMethodNameIsAProtocolError) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    s.write_all(fd, test::frame(std::string("\x01\x02\x03\xff", 4)));
    s.peer_closes_silently(fd, 2s);
  });
  auto c = client();
  RecordingPdk pdk;
  expect_error(c.handle_event(5, "access", pdk), ErrorKind::protocol);
  EXPECT_TRUE(pdk.calls.empty());
}

TEST_F(Fixture, CloseMidEventIsInstanceGone) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    auto call = read_call(s, fd);
    if (call.cmd_handle_event().event_name() != "access") s.fail("wrong event");
    s.write_all(fd, test::frame(std::string("kong.request.get_header")) + string_arg("host"));
    auto reply = s.read_frame(fd);
    kp::String value;
    if (!reply || !value.ParseFromString(*reply) || value.v() != "value") s.fail("wrong reply");
    s.close_fd(fd);
  });
  auto c = client();
  RecordingPdk pdk;
  expect_error(c.handle_event(5, "access", pdk), ErrorKind::instance_gone);
  ASSERT_EQ(pdk.calls.size(), 1u);
  EXPECT_EQ(pdk.calls[0].first, "kong.request.get_header");
  EXPECT_EQ(pdk.calls[0].second, json::array({"host"}));
}

TEST_F(Fixture, SilentServerTimesOut) {
  timeout = 200ms;
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    if (!s.peer_closes_silently(fd, 3s)) s.fail("the gateway did not give up the connection");
  });
  auto c = client();
  RecordingPdk pdk;
  const auto took = expect_error(c.handle_event(5, "access", pdk), ErrorKind::timeout);
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 2s);
}

TEST_F(Fixture, TimeSpentInThePdkIsNotTheServersTimeout) {
  timeout = 150ms;
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    auto call = read_call(s, fd);
    s.write_all(fd, test::frame(std::string("kong.request.get_header")) + string_arg("host"));
    s.read_frame(fd);
    s.write_all(fd, test::frame(std::string()) + return_frame(call.sequence()));
  });
  auto c = client();
  RecordingPdk pdk;
  pdk.delay = 400ms;
  auto outcome = test::run(io, c.handle_event(5, "access", pdk));
  EXPECT_FALSE(outcome.terminated);
  EXPECT_EQ(outcome.pdk_calls, 1u);
}

TEST_F(Fixture, WrongSequenceIsAProtocolError) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    auto call = read_call(s, fd);
    s.write_all(fd, instance_status_frame(call.sequence() + 7, 3));
    s.peer_closes_silently(fd, 2s);
  });
  auto c = client();
  expect_error(c.start_instance("p", "{}"), ErrorKind::protocol);
}

TEST_F(Fixture, UnknownMethodIsAnsweredWithNilAndTheEventGoesOn) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    auto call = read_call(s, fd);
    s.write_all(fd, test::frame(std::string("kong.request.get_nonexistent_thing")) + string_arg("x"));
    auto reply = s.read_frame(fd);
    if (!reply || !reply->empty()) s.fail("unknown method not answered with a zero-length frame");
    s.write_all(fd, test::frame(std::string()) + return_frame(call.sequence()));
  });
  auto c = client();
  RecordingPdk pdk;
  auto outcome = test::run(io, c.handle_event(5, "access", pdk));
  EXPECT_FALSE(outcome.terminated);
  EXPECT_TRUE(pdk.calls.empty());
}

TEST_F(Fixture, ThrowingPdkPropagatesAndDropsTheConnection) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    s.write_all(fd, test::frame(std::string("kong.request.get_path")) + test::frame(std::string()));
    if (!s.peer_closes_silently(fd, 2s)) s.fail("the connection was not closed");
  });
  auto c = client();
  RecordingPdk pdk;
  pdk.throws = true;
  EXPECT_THROW(test::run(io, c.handle_event(5, "log", pdk)), std::runtime_error);
  EXPECT_EQ(ConnectionPool::of(io.get_executor()).idle(server.path()), 0u);
}

TEST_F(Fixture, ExitIsTerminalNoReplyAndTheConnectionIsClosed) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    read_call(s, fd);
    kp::ExitArgs exit;
    exit.set_status(403);
    exit.set_body("no");
    s.write_all(fd, test::frame(std::string("kong.response.exit")) + test::frame(exit));
    if (!s.peer_closes_silently(fd, 2s)) s.fail("the gateway replied to exit or kept the connection");
  });
  auto c = client();
  RecordingPdk pdk;
  pdk.answer.status = PdkResult::Status::terminal;
  auto outcome = test::run(io, c.handle_event(5, "access", pdk));
  EXPECT_TRUE(outcome.terminated);
  ASSERT_EQ(pdk.calls.size(), 1u);
  EXPECT_EQ(pdk.calls[0].second[0], 403);
}

TEST_F(Fixture, IdleConnectionIsReusedForTheNextCommand) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    for (int i = 0; i < 3; ++i) {
      auto call = read_call(s, fd);
      s.write_all(fd, instance_status_frame(call.sequence(), 7 + i));
    }
  });
  auto c = client();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(test::run(io, c.start_instance("p", "{}")).id, 7 + i);
  EXPECT_EQ(ConnectionPool::of(io.get_executor()).idle(server.path()), 1u);
  server.join();
  EXPECT_EQ(server.accepts(), 1);
}

TEST_F(Fixture, IdleConnectionClosedByTheServerIsReplacedNotAnError) {
  server.run([](test::ScriptServer& s) {
    int fd = s.accept();
    auto call = read_call(s, fd);
    s.write_all(fd, instance_status_frame(call.sequence(), 1));
    s.close_fd(fd);  // e.g. the server restarted while the connection sat in the pool
    fd = s.accept();
    call = read_call(s, fd);
    s.write_all(fd, instance_status_frame(call.sequence(), 2));
  });
  auto c = client();
  EXPECT_EQ(test::run(io, c.start_instance("p", "{}")).id, 1);
  std::this_thread::sleep_for(50ms);  // let the close arrive
  EXPECT_EQ(test::run(io, c.start_instance("p", "{}")).id, 2);
}

TEST_F(Fixture, ConcurrentEventsUseSeparateConnections) {
  server.run([](test::ScriptServer& s) {
    int a = s.accept();
    int b = s.accept();
    auto call_a = read_call(s, a);
    auto call_b = read_call(s, b);
    // Answer b first: the events are independent.
    s.write_all(b, test::frame(std::string()) + return_frame(call_b.sequence()));
    s.write_all(a, test::frame(std::string()) + return_frame(call_a.sequence()));
  });
  auto c = client();
  RecordingPdk pdk;
  auto both = [&]() -> asio::awaitable<int> {
    using namespace asio::experimental::awaitable_operators;
    auto [x, y] = co_await (c.handle_event(1, "log", pdk) && c.handle_event(2, "log", pdk));
    co_return static_cast<int>(x.pdk_calls + y.pdk_calls);
  };
  EXPECT_EQ(test::run(io, both()), 0);
  EXPECT_EQ(ConnectionPool::of(io.get_executor()).idle(server.path()), 2u);
}

}  // namespace
}  // namespace gh::pluginserver::protobuf
