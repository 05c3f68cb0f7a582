// The Client against the REAL npm kong-pdk plugin server (kong-js-pluginserver, installed into
// tools/ by scripts/setup), hosting tests/unit/msgpack/js-plugins/gh-echo.js.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "pluginserver/msgpack/client.h"
#include "test_support.h"

extern char** environ;

namespace gh::pluginserver::msgpack {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// The JS plugin server as a child process, stopped (by its pid) at scope exit.
class JsServer {
 public:
  explicit JsServer(const std::filesystem::path& prefix) : socket_((prefix / "js.sock").string()) {
    const std::string exe =
        std::string(GATEHOUSE_SOURCE_DIR) + "/tools/node_modules/.bin/kong-js-pluginserver";
    const std::string plugins = std::string(GATEHOUSE_SOURCE_DIR) + "/tests/unit/msgpack/js-plugins";
    const std::string log = (prefix / "server.log").string();
    if (access(exe.c_str(), X_OK) != 0) throw std::runtime_error(exe + " missing: run scripts/setup");
    std::vector<std::string> args = {exe, "-p", prefix.string(), "--sock-name", "js.sock", "-d", plugins};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn: " + std::string(strerror(rc)));
    wait_for_socket();
  }
  ~JsServer() { stop(SIGTERM); }
  JsServer(const JsServer&) = delete;

  const std::string& socket() const { return socket_; }
  void stop(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  void wait_for_socket() {
    for (int i = 0; i < 300; ++i) {
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_.c_str());
      bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      ::close(fd);
      if (ok) return;
      std::this_thread::sleep_for(50ms);
    }
    throw std::runtime_error("kong-js-pluginserver did not open " + socket_);
  }
  std::string socket_;
  pid_t pid_ = -1;
};

struct Call {
  std::string method;
  json args;
};

// Answers like a gateway whose request has `x-in: <header>` (or none), body "hello" and two
// headers; records every call.
class ScriptedPdk : public PdkHandler {
 public:
  std::optional<std::string> header;
  std::vector<Call> calls;
  std::function<void()> on_first_call;

  asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view method, json args) override {
    calls.push_back({std::string(method), args});
    if (on_first_call && calls.size() == 1) on_first_call();
    if (method == "kong.request.get_header") co_return header ? PdkResult::ok(*header) : PdkResult::nil();
    if (method == "kong.request.get_raw_body")
      co_return PdkResult::ok(json::binary({'h', 'e', 'l', 'l', 'o'}));
    if (method == "kong.request.get_headers") co_return PdkResult::ok(json{{"a", "1"}, {"b", {"2", "3"}}});
    if (method == "kong.service.set_upstream") co_return PdkResult::fail("no upstream");
    if (method == "kong.response.exit") {
      PdkResult r;
      r.status = PdkResult::Status::terminal;
      co_return r;
    }
    co_return PdkResult::nil();
  }
};

template <typename F>
void run(asio::io_context& io, F body) {
  std::string failure;
  asio::co_spawn(io, body(), [&](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      failure = ex.what();
    }
    io.stop();
  });
  io.run_for(30s);
  EXPECT_EQ(failure, "");
}

const Call* find_call(const ScriptedPdk& pdk, std::string_view method) {
  for (const auto& c : pdk.calls)
    if (c.method == method) return &c;
  return nullptr;
}

TEST(RealJsServer, InstancesEventsExitAndRecovery) {
  test::TempDir dir;
  JsServer server(dir.path);
  asio::io_context io;
  Client client(io.get_executor(), server.socket(), 20000ms);
  ScriptedPdk with_header, without_header, third;
  with_header.header = "x";
  EventOutcome normal, exiting, after_exit;
  InstanceStatus a, b;
  bool gone = false;

  run(io, [&]() -> asio::awaitable<void> {
    a = co_await client.start_instance("gh-echo", R"({"prefix":"p","__seq__":1})");
    normal = co_await client.handle_event(a.id, "access", with_header);
    b = co_await client.start_instance("gh-echo", R"({"prefix":"q","exit":true,"__seq__":2})");
    exiting = co_await client.handle_event(b.id, "access", without_header);
    after_exit = co_await client.handle_event(a.id, "access", third);  // the server is still fine
    co_await client.close_instance(a.id);
    try {
      co_await client.handle_event(a.id, "access", third);
    } catch (const RpcError& e) {
      gone = e.kind() == ErrorKind::instance_gone && e.instance_lost();
    }
  });

  EXPECT_EQ(a.name, "gh-echo");
  EXPECT_EQ(a.config["prefix"], "p");
  EXPECT_NE(a.id, b.id);
  EXPECT_GT(a.start_time, 1e9);

  // What the JS plugin saw: a str header, a Buffer body (bin), a fixed-up multimap, a StepError
  // as a thrown PDKError.
  EXPECT_FALSE(normal.terminated);
  EXPECT_EQ(normal.pdk_calls, 6u);
  const Call* set = find_call(with_header, "kong.response.set_header");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(
      set->args,
      json::array(
          {"x-out",
           R"(p|x|buffer:hello|{"a":["1"],"b":["2","3"]}|PDK method kong.service.set_upstream failed:  no upstream)"}));
  const Call* log = find_call(with_header, "kong.log.info");
  ASSERT_NE(log, nullptr);
  std::string why;
  EXPECT_TRUE(test::strict_equal(log->args, json::array({"done", 1.5, 7}), &why)) << why;

  // nil travels as an absent Data: JS gets undefined (Kong's behaviour), then exit ends the event.
  EXPECT_TRUE(exiting.terminated);
  ASSERT_FALSE(without_header.calls.empty());
  EXPECT_EQ(without_header.calls.back().method, "kong.response.exit");
  EXPECT_EQ(without_header.calls.back().args, json::array({418, "teapot"}));
  set = find_call(without_header, "kong.response.set_header");
  ASSERT_NE(set, nullptr);
  EXPECT_TRUE(set->args[1].get<std::string>().starts_with("q|undefined|")) << set->args;

  EXPECT_FALSE(after_exit.terminated);
  EXPECT_TRUE(gone);
}

TEST(RealJsServer, KilledMidEventIsInstanceLost) {
  test::TempDir dir;
  JsServer server(dir.path);
  asio::io_context io;
  Client client(io.get_executor(), server.socket(), 20000ms);
  ScriptedPdk pdk;
  pdk.on_first_call = [&] { server.stop(SIGKILL); };
  std::optional<ErrorKind> kind;
  run(io, [&]() -> asio::awaitable<void> {
    InstanceStatus st = co_await client.start_instance("gh-echo", R"({"prefix":"k"})");
    try {
      co_await client.handle_event(st.id, "access", pdk);
    } catch (const RpcError& e) {
      kind = e.kind();
    }
  });
  ASSERT_TRUE(kind.has_value());
  EXPECT_EQ(*kind, ErrorKind::closed);
  EXPECT_EQ(client.pool().idle_count(server.socket()), 0u);
}

}  // namespace
}  // namespace gh::pluginserver::msgpack
