// The Client against scripted servers on real Unix sockets: step encoding rules, error
// categories, deadlines, notifications, split input, pooling, and hostile servers.
#include "pluginserver/msgpack/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>

#include "test_support.h"

namespace gh::pluginserver::msgpack {
namespace {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using namespace std::chrono_literals;
using test::hex;

// ---------------------------------------------------------------- step parameters

std::string step_hex(const PdkResult& r, std::string_view step = "plugin.Step") {
  std::string out;
  write_step_param(Writer(out), 7, r, step);
  return hex(out);
}

TEST(StepParam, NilLeavesDataOut) {
  EXPECT_EQ(step_hex(PdkResult::nil()), "81a74576656e74496407");                  // {EventId: 7}
  EXPECT_EQ(step_hex(PdkResult::ok(nullptr)), "81a74576656e74496407");            // ok(null) is nil too
  EXPECT_EQ(step_hex(PdkResult::ok("x")), "82a74576656e74496407a444617461a178");  // {EventId, Data: "x"}
}

TEST(StepParam, ErrorsAreStepErrorWithTheMessage) {
  PdkResult r = PdkResult::fail("boom");
  EXPECT_EQ(step_method("plugin.Step", r), "plugin.StepError");
  EXPECT_EQ(step_method("plugin.StepConsumer", r), "plugin.StepError");
  EXPECT_EQ(step_hex(r), "82a74576656e74496407a444617461a4626f6f6d");
  EXPECT_EQ(step_method("plugin.StepConsumer", PdkResult::ok(1)), "plugin.StepConsumer");
  // Kong: StepConsumer without Data
  EXPECT_EQ(step_method("plugin.StepConsumer", PdkResult::nil()), "plugin.StepConsumer");
}

TEST(StepParam, MultimapFixups) {
  auto data_hex = [](json v) {
    std::string full = step_hex(PdkResult::ok(std::move(v)), "plugin.StepMultiMap");
    return full.substr(std::string("82a74576656e74496407a444617461").size());
  };
  EXPECT_EQ(data_hex(json::object()), "80");                         // empty map stays a map
  EXPECT_EQ(data_hex(json{{"a", "v"}}), "81a16191a176");             // single value → [v]
  EXPECT_EQ(data_hex(json{{"a", true}}), "81a16190");                // valueless flag → []
  EXPECT_EQ(data_hex(json{{"a", {"x", "y"}}}), "81a16192a178a179");  // arrays stay
  EXPECT_EQ(data_hex(json{{"a", {"x", true}}}), "81a16192a178c3");
  // Outside StepMultiMap an empty table is an empty array, as Kong packs it.
  EXPECT_EQ(step_hex(PdkResult::ok(json::object())), "82a74576656e74496407a44461746190");
}

TEST(StepParam, BodiesAreBin) {
  json body = json::binary({'h', 'i'});
  EXPECT_EQ(step_hex(PdkResult::ok(body)), "82a74576656e74496407a444617461c4026869");
}

// ---------------------------------------------------------------- scripted servers

struct Harness {
  test::TempDir dir;
  asio::io_context io;
  std::string path = (dir.path / "srv.sock").string();
  stream_protocol::acceptor acceptor{io, stream_protocol::endpoint(path)};
  std::shared_ptr<ConnectionPool> pool = std::make_shared<ConnectionPool>(io.get_executor());
  std::vector<std::string> errors;  // exceptions escaping either side

  Client client(std::chrono::milliseconds call_timeout, std::chrono::milliseconds event_timeout = 0ms) {
    ClientOptions o;
    o.call_timeout = call_timeout;
    o.event_timeout = event_timeout;
    return Client(pool, path, o);
  }

  // Runs the server script and the gateway side until the gateway side is done.
  void run(asio::awaitable<void> server, asio::awaitable<void> gateway) {
    auto record = [this](bool stop) {
      return [this, stop](std::exception_ptr e) {
        if (stop) io.stop();
        try {
          if (e) std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          errors.push_back(ex.what());
        }
      };
    };
    asio::co_spawn(io, std::move(server), record(false));
    asio::co_spawn(io, std::move(gateway), record(true));
    io.run_for(20s);
  }
};

asio::awaitable<json> read_request(stream_protocol::socket& s, StreamDecoder& dec) {
  while (true) {
    if (auto obj = dec.next()) co_return decode(*obj);
    auto space = dec.prepare();
    size_t n = co_await s.async_read_some(asio::buffer(space.data(), space.size()), asio::use_awaitable);
    dec.commit(n);
  }
}

asio::awaitable<void> send(stream_protocol::socket& s, const std::string& bytes) {
  co_await asio::async_write(s, asio::buffer(bytes), asio::use_awaitable);
}

std::string response(const json& msgid, const json& error, const json& result) {
  return encode(json::array({1, msgid, error, result}));
}

asio::awaitable<void> sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

// Expects `op` to fail with RpcError of `kind`; returns how long it took.
template <typename F>
asio::awaitable<std::chrono::milliseconds> expect_error(ErrorKind kind, F op) {
  auto start = Clock::now();
  try {
    co_await op();
    ADD_FAILURE() << "no error, expected " << to_string(kind);
  } catch (const RpcError& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
  }
  co_return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

struct NoPdk : PdkHandler {
  asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view, json) override {
    co_return PdkResult::nil();
  }
};

TEST(HostileServer, GarbageBytesAreAProtocolError) {
  Harness h;
  Client c = h.client(5s);
  auto server = [&]() -> asio::awaitable<void> {
    auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
    StreamDecoder dec;
    co_await read_request(s, dec);
    co_await send(s, std::string("\xc1\x00\x01", 3));
    co_await sleep(2s);
  };
  auto gateway = [&]() -> asio::awaitable<void> {
    co_await expect_error(ErrorKind::bad_reply,
                          [&]() -> asio::awaitable<void> { co_await c.start_instance("p", "{}"); });
  };
  h.run(server(), gateway());
  EXPECT_TRUE(h.errors.empty());
  EXPECT_EQ(h.pool->idle_count(h.path), 0u);  // a connection that spoke garbage is not reused
}

TEST(HostileServer, HugeStr32LengthFailsAtOnceWithoutAllocating) {
  Harness h;
  Client c = h.client(30s);
  auto server = [&]() -> asio::awaitable<void> {
    auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
    StreamDecoder dec;
    co_await read_request(s, dec);
    co_await send(s, test::from_hex("940101c0dbfffffff0"));  // result: a 4 GiB string follows...
    co_await sleep(40s);
  };
  std::chrono::milliseconds took{};
  auto gateway = [&]() -> asio::awaitable<void> {
    took = co_await expect_error(ErrorKind::bad_reply,
                                 [&]() -> asio::awaitable<void> { co_await c.start_instance("p", "{}"); });
  };
  h.run(server(), gateway());
  EXPECT_LT(took, 10s);  // refused from the header, not after the 30 s timeout
}

TEST(HostileServer, ServerClosingMidEventIsInstanceLost) {
  Harness h;
  Client c = h.client(5s);
  auto server = [&]() -> asio::awaitable<void> {
    auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
    StreamDecoder dec;
    json req = co_await read_request(s, dec);
    std::string reply =
        response(req[1], nullptr,
                 {{"EventId", 3}, {"Data", {{"Method", "kong.request.get_header"}, {"Args", {"host"}}}}});
    co_await send(s, reply);
    json step = co_await read_request(s, dec);
    EXPECT_EQ(step[2], "plugin.Step");
    s.close();  // crash
  };
  auto gateway = [&]() -> asio::awaitable<void> {
    NoPdk pdk;
    try {
      co_await c.handle_event(0, "access", pdk);
      ADD_FAILURE() << "no error";
    } catch (const RpcError& e) {
      EXPECT_EQ(e.kind(), ErrorKind::closed) << e.what();
      EXPECT_TRUE(e.instance_lost());
    }
  };
  h.run(server(), gateway());
  EXPECT_TRUE(h.errors.empty());
  EXPECT_EQ(h.pool->idle_count(h.path), 0u);
}

TEST(HostileServer, SilentServerTimesOut) {
  Harness h;
  Client c = h.client(200ms);
  auto server = [&]() -> asio::awaitable<void> {
    auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
    StreamDecoder dec;
    co_await read_request(s, dec);
    co_await sleep(3s);
  };
  std::chrono::milliseconds took{};
  auto gateway = [&]() -> asio::awaitable<void> {
    NoPdk pdk;
    took = co_await expect_error(
        ErrorKind::timeout, [&]() -> asio::awaitable<void> { co_await c.handle_event(1, "access", pdk); });
  };
  h.run(server(), gateway());
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 5s);                        // generous: the machine may be loaded
  EXPECT_EQ(h.pool->idle_count(h.path), 0u);  // its late answer must not reach the next caller
}

TEST(HostileServer, WrongMsgidIsAProtocolError) {
  Harness h;
  Client c = h.client(5s);
  auto server = [&]() -> asio::awaitable<void> {
    auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
    StreamDecoder dec;
    json req = co_await read_request(s, dec);
    std::string reply = response(req[1].get<int>() + 1, nullptr, {{"Id", 0}});
    co_await send(s, reply);
    co_await sleep(2s);
  };
  auto gateway = [&]() -> asio::awaitable<void> {
    co_await expect_error(ErrorKind::bad_reply,
                          [&]() -> asio::awaitable<void> { co_await c.start_instance("p", "{}"); });
  };
  h.run(server(), gateway());
}

TEST(Client, ConnectFailureIsTransport) {
  Harness h;
  h.acceptor.close();
  std::filesystem::remove(h.path);
  Client c = h.client(1s);
  auto gateway = [&]() -> asio::awaitable<void> {
    co_await expect_error(ErrorKind::transport,
                          [&]() -> asio::awaitable<void> { co_await c.close_instance(1); });
  };
  h.run([]() -> asio::awaitable<void> { co_return; }(), gateway());
}

// An error that is not a string is reported as JSON, its invalid UTF-8 replaced: found by
// msgpack_bridge_fuzz (the serializer's type_error escaped the client, which throws only RpcError).
TEST(Client, AnErrorValueWithInvalidUtf8IsAServerError) {
  Harness h;
  Client c = h.client(5s);
  auto server = [&]() -> asio::awaitable<void> {
    auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
    StreamDecoder dec;
    json req = co_await read_request(s, dec);
    // [1, msgid, {"m": "\xa4"}, nil]: a one-byte string that is not UTF-8
    co_await send(s, "\x94\x01" + encode(req[1]) + std::string("\x81\xa1m\xa1\xa4\xc0", 7));
    co_await sleep(2s);
  };
  auto gateway = [&]() -> asio::awaitable<void> {
    NoPdk pdk;
    try {
      co_await c.handle_event(1, "access", pdk);
      ADD_FAILURE() << "no error";
    } catch (const RpcError& e) {
      EXPECT_EQ(e.kind(), ErrorKind::server_error);
      EXPECT_EQ(std::string(e.what()), "{\"m\":\"\xEF\xBF\xBD\"}");  // U+FFFD
    }
  };
  h.run(server(), gateway());
  EXPECT_TRUE(h.errors.empty()) << h.errors.front();
}

// Error strings: "no plugin instance" in any case → instance_gone, others → server_error; both are
// complete responses, so the connection stays pooled. Also: a serverPid notification before a
// response, and a response arriving one byte at a time.
TEST(Client, ErrorCategoriesNotificationsAndSplitInput) {
  Harness h;
  Client c = h.client(5s);
  auto server = [&]() -> asio::awaitable<void> {
    auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
    StreamDecoder dec;
    json req = co_await read_request(s, dec);
    std::string reply = response(req[1], "No plugin instance 42", nullptr);
    co_await send(s, reply);
    req = co_await read_request(s, dec);
    reply = response(req[1], "event id 3 not found", nullptr);
    co_await send(s, reply);
    req = co_await read_request(s, dec);
    EXPECT_EQ(req[2], "plugin.StartInstance");
    EXPECT_EQ(req[3][0]["Config"], R"({"a":1})");
    std::string bytes =
        encode(json::array({2, "serverPid", 4242})) +
        response(req[1], nullptr,
                 {{"Name", "p"}, {"Id", 9}, {"Config", {{"a", 1}}}, {"StartTime", 1795662211.465}});
    for (char ch : bytes) co_await send(s, std::string(1, ch));
    co_await sleep(2s);
  };
  auto gateway = [&]() -> asio::awaitable<void> {
    NoPdk pdk;
    co_await expect_error(ErrorKind::instance_gone,
                          [&]() -> asio::awaitable<void> { co_await c.handle_event(42, "log", pdk); });
    co_await expect_error(ErrorKind::server_error,
                          [&]() -> asio::awaitable<void> { co_await c.handle_event(1, "log", pdk); });
    InstanceStatus st = co_await c.start_instance("p", R"({"a":1})");
    EXPECT_EQ(st.id, 9);
    EXPECT_EQ(st.name, "p");
    EXPECT_EQ(st.config["a"], 1);
    EXPECT_DOUBLE_EQ(st.start_time, 1795662211.465);
  };
  h.run(server(), gateway());
  EXPECT_TRUE(h.errors.empty()) << h.errors.front();
  EXPECT_EQ(c.server_pid(), 4242);
  EXPECT_EQ(h.pool->idle_count(h.path), 1u);
}

// A PDK handler slower than the event deadline: the event fails with timeout and no Step is sent.
TEST(Client, EventDeadlineCoversPdkCalls) {
  Harness h;
  Client c = h.client(5s, 100ms);
  bool step_seen = false;
  auto server = [&]() -> asio::awaitable<void> {
    auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
    StreamDecoder dec;
    json req = co_await read_request(s, dec);
    std::string reply =
        response(req[1], nullptr, {{"EventId", 0}, {"Data", {{"Method", "kong.log.info"}, {"Args", {"x"}}}}});
    co_await send(s, reply);
    auto space = dec.prepare();
    auto [ec, n] = co_await s.async_read_some(asio::buffer(space.data(), space.size()),
                                              asio::as_tuple(asio::use_awaitable));
    step_seen = !ec && n > 0;
  };
  struct SlowPdk : PdkHandler {
    asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view, json) override {
      co_await sleep(300ms);
      co_return PdkResult::nil();
    }
  } pdk;
  auto gateway = [&]() -> asio::awaitable<void> {
    co_await expect_error(ErrorKind::timeout,
                          [&]() -> asio::awaitable<void> { co_await c.handle_event(0, "access", pdk); });
    co_await sleep(150ms);  // time for a (wrong) Step to reach the server
  };
  h.run(server(), gateway());
  EXPECT_FALSE(step_seen);
}

// Two events at once never share a connection (one outstanding request per connection: the JS
// server dies on pipelined input); afterwards both connections are pooled. A body travels as bin.
TEST(Client, ConcurrentEventsUseSeparateConnectionsAndBodiesAreBin) {
  Harness h;
  Client c = h.client(5s);
  const std::string body(1 << 20, 'b');
  int accepted = 0, bin_steps = 0;
  std::function<asio::awaitable<void>(stream_protocol::socket)> serve_conn =
      [&](stream_protocol::socket s) -> asio::awaitable<void> {
    StreamDecoder dec;
    json req = co_await read_request(s, dec);
    std::string reply = response(
        req[1], nullptr,
        {{"EventId", req[1]}, {"Data", {{"Method", "kong.request.get_raw_body"}, {"Args", json::array()}}}});
    co_await send(s, reply);
    std::string raw;
    while (true) {  // the Step, read raw to check its bytes
      if (auto obj = dec.next()) {
        raw.assign(reinterpret_cast<const char*>(obj->data()), obj->size());
        break;
      }
      auto space = dec.prepare();
      dec.commit(co_await s.async_read_some(asio::buffer(space.data(), space.size()), asio::use_awaitable));
    }
    EXPECT_EQ(dec.buffered(), 0u);
    json step = decode(raw);
    EXPECT_TRUE(step[3][0]["Data"].is_binary());
    bin_steps += raw.find(std::string("\xc6\x00\x10\x00\x00", 5)) != std::string::npos;
    reply = response(step[1], nullptr, {{"EventId", 0}, {"Data", "ret"}});
    co_await send(s, reply);
    co_await sleep(1s);
  };
  auto server = [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto s = co_await h.acceptor.async_accept(asio::use_awaitable);
      ++accepted;
      asio::co_spawn(h.io, serve_conn(std::move(s)), asio::detached);
    }
  };
  struct BodyPdk : PdkHandler {
    const std::string& body;
    explicit BodyPdk(const std::string& b) : body(b) {}
    asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view method, json) override {
      co_await sleep(50ms);  // both events are inside a PDK call at the same time
      co_return PdkResult::ok(json::binary(json::binary_t::container_type(body.begin(), body.end())));
    }
  } pdk(body);
  int done = 0;
  auto one = [&]() -> asio::awaitable<void> {
    EventOutcome o = co_await c.handle_event(0, "access", pdk);
    EXPECT_EQ(o.pdk_calls, 1u);
    EXPECT_FALSE(o.terminated);
    ++done;
  };
  auto gateway = [&]() -> asio::awaitable<void> {
    asio::co_spawn(h.io, one(), asio::detached);
    co_await one();
    while (done < 2) co_await sleep(10ms);
  };
  h.run(server(), gateway());
  EXPECT_EQ(accepted, 2);
  EXPECT_EQ(done, 2);
  EXPECT_EQ(bin_steps, 2);
  EXPECT_EQ(h.pool->idle_count(h.path), 2u);
}

}  // namespace
}  // namespace gh::pluginserver::msgpack
