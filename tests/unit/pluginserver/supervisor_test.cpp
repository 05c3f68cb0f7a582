// Supervision with real processes: a Python Unix-socket server fixture and small shell scripts.
#include "pluginserver/supervisor.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "pluginserver/process.h"
#include "test_util.h"

namespace gh::pluginserver {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::process_alive;
using testing::TempDir;

// The supervisor's io_context, run by its own thread as in the gateway.
struct IoThread {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard =
      boost::asio::make_work_guard(io);
  std::thread thread{[this] { io.run(); }};
  ~IoThread() {
    guard.reset();
    io.stop();
    thread.join();
  }
};

// Captures the process log (spdlog's default logger) for assertions.
struct LogCapture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(5000);
  LogCapture() {
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_pattern("[%l] %v");
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  bool contains(const std::string& text) const {
    for (const auto& line : sink->last_formatted())
      if (line.find(text) != std::string::npos) return true;
    return false;
  }
  std::string dump() const {
    std::string all;
    for (const auto& line : sink->last_formatted()) all += line;
    return all;
  }
};

std::string fixture() {
  return testing::source_path("tests/integration/pluginservers/unix_server.py");
}

ServerConfig server(const std::string& name, const std::string& socket, const std::string& start_cmd) {
  ServerConfig s;
  s.name = name;
  s.socket = socket;
  s.start_cmd = start_cmd;
  s.query_cmd = "unused";
  s.ready_timeout = 5s;
  return s;
}

ServerConfig python_server(const std::string& name, const std::string& socket,
                           const std::string& extra = "") {
  return server(name, socket,
                "/usr/bin/python3 " + fixture() + " " + socket + (extra.empty() ? "" : " " + extra));
}

SupervisorTiming fast_timing() {
  SupervisorTiming t;
  t.backoff_initial = 100ms;
  t.backoff_cap = 400ms;
  t.stop_grace = 500ms;
  t.probe_interval = 20ms;
  return t;
}

nlohmann::json status_of(const Supervisor& supervisor, const std::string& name) {
  for (const auto& s : supervisor.status())
    if (s["name"] == name) return s;
  return nullptr;
}

pid_t pid_of(const Supervisor& supervisor, const std::string& name) {
  auto s = status_of(supervisor, name);
  return s.is_object() && s["pid"].is_number() ? s["pid"].get<pid_t>() : -1;
}

// Connects to the fixture's socket and reads its "pong <pid>" line.
std::string ask(const std::string& socket_path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) reply.assign(buf, n);
  }
  ::close(fd);
  return reply;
}

pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto rest = content.substr(content.rfind(')') + 4);  // ") S <ppid>"
  return std::stoi(rest);
}

// Our live (non-zombie) children, from /proc.
std::vector<pid_t> live_children() {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    try {
      if (process_alive(pid) && parent_of(pid) == getpid()) out.push_back(pid);
    } catch (...) {
    }
  }
  return out;
}

TEST(Supervisor, StartsWithExecSemanticsRelogsOutputAndStopsCleanly) {
  LogCapture log;
  TempDir dir;
  auto sock = dir / "srv.socket";
  IoThread io;
  Supervisor supervisor(io.io,
                        {python_server("srv", sock,
                                       "--stdout 'hello from stdout' --stderr 'INFO ready soon' "
                                       "--stderr 'something odd' --stderr 'ERROR: bad thing'")},
                        fast_timing());
  EXPECT_FALSE(supervisor.is_ready("srv"));
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s)) << log.dump();
  EXPECT_TRUE(supervisor.is_ready("srv"));
  auto status = status_of(supervisor, "srv");
  EXPECT_EQ(status["state"], "running");
  EXPECT_EQ(status["restarts"], 0);
  EXPECT_EQ(status["socket"], sock);
  pid_t pid = status["pid"].get<pid_t>();
  EXPECT_EQ(parent_of(pid), getpid());  // exec semantics: no shell in between
  EXPECT_EQ(getpgid(pid), pid);         // its own process group
  EXPECT_EQ(ask(sock), "pong " + std::to_string(pid) + "\n");
  std::string tag = "[srv:" + std::to_string(pid) + "] ";
  EXPECT_TRUE(eventually([&] { return log.contains("[info] " + tag + "hello from stdout"); })) << log.dump();
  EXPECT_TRUE(eventually([&] { return log.contains("[info] " + tag + "INFO ready soon"); })) << log.dump();
  EXPECT_TRUE(eventually([&] { return log.contains("[warning] " + tag + "something odd"); })) << log.dump();
  EXPECT_TRUE(eventually([&] { return log.contains("[error] " + tag + "ERROR: bad thing"); })) << log.dump();

  supervisor.stop();
  EXPECT_FALSE(process_alive(pid));
  EXPECT_TRUE(live_children().empty());
  status = status_of(supervisor, "srv");
  EXPECT_EQ(status["state"], "stopped");
  EXPECT_TRUE(status["pid"].is_null());
  EXPECT_FALSE(supervisor.is_ready("srv"));
  EXPECT_TRUE(log.contains("successfully stopped pluginserver 'srv', pid " + std::to_string(pid)))
      << log.dump();
}

TEST(Supervisor, StaleSocketIsRemovedBeforeStart) {
  TempDir dir;
  auto sock = dir / "stale.socket";
  {  // a socket file whose server is gone
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  // This server refuses to start if the socket file still exists (Kong's servers would unlink it;
  // this one checks that we did).
  auto script =
      dir.script("strict.sh", "#!/bin/sh\n[ -S " + sock + " ] && { echo 'stale socket'; exit 3; }\nexec " +
                                  "/usr/bin/python3 " + fixture() + " " + sock + "\n");
  IoThread io;
  Supervisor supervisor(io.io, {server("strict", sock, script)}, fast_timing());
  supervisor.start();
  EXPECT_TRUE(supervisor.wait_ready(10s));
  EXPECT_EQ(status_of(supervisor, "strict")["restarts"], 0);
  supervisor.stop();
}

TEST(Supervisor, CrashingServerIsRestartedAtOnceThenWithExponentialBackoff) {
  LogCapture log;
  TempDir dir;
  auto starts = dir / "starts";
  auto script =
      dir.script("crash.sh", "#!/bin/sh\ndate +%s%N >> " + starts + "\necho 'crashing now'\nexit 1\n");
  IoThread io;
  Supervisor supervisor(io.io, {server("crashy", dir / "crashy.socket", script)}, fast_timing());
  supervisor.start();
  EXPECT_FALSE(supervisor.wait_ready(500ms));
  EXPECT_TRUE(log.contains("pluginserver 'crashy' is not ready")) << log.dump();
  nlohmann::json status;
  EXPECT_TRUE(eventually(
      [&] {  // seven starts, and between two runs (stopping mid-run would make the last exit SIGTERM)
        status = status_of(supervisor, "crashy");
        return status["restarts"].get<int>() >= 7 && status["state"] == "restarting";
      },
      15s));
  supervisor.stop();
  EXPECT_EQ(status["last_exit"], "exited with code 1");
  EXPECT_TRUE(log.contains("terminated: exited with code 1")) << log.dump();
  EXPECT_TRUE(log.contains("restarting pluginserver 'crashy' in 0ms (restart #1)")) << log.dump();
  EXPECT_TRUE(log.contains("restarting pluginserver 'crashy' in 100ms (restart #2)")) << log.dump();

  std::vector<double> times;
  std::ifstream in(starts);
  for (long long ns; in >> ns;) times.push_back(ns / 1e6);
  // Delays 0, 100, 200, 400, 400, 400 ms (+ process start time): uncapped they would be 800, 1600.
  ASSERT_GE(times.size(), 7u);
  std::vector<double> gaps;
  for (std::size_t i = 1; i < times.size(); ++i) gaps.push_back(times[i] - times[i - 1]);
  EXPECT_LT(gaps[0], gaps[1]) << "the first restart is immediate";
  EXPECT_GE(gaps[1], 95);
  EXPECT_GE(gaps[2], 195);
  EXPECT_GE(gaps[3], 395);
  EXPECT_LT(gaps[1], gaps[3]);
  EXPECT_LT(gaps[4], 790) << "the cap is 400ms";
  EXPECT_LT(gaps[5], 1190) << "the cap is 400ms";
}

TEST(Supervisor, MissingBinaryIsReportedAsCommandNotFound) {
  LogCapture log;
  TempDir dir;
  IoThread io;
  Supervisor supervisor(io.io,
                        {server("ghost", dir / "ghost.socket", "/nonexistent/ghost-server -kong-prefix /x")},
                        fast_timing());
  supervisor.start();
  EXPECT_TRUE(eventually([&] { return log.contains("exited with \"command not found\""); })) << log.dump();
  EXPECT_TRUE(log.contains("\"ghost\" start command \"/nonexistent/ghost-server -kong-prefix /x\""))
      << log.dump();
  EXPECT_TRUE(eventually([&] {
    auto s = status_of(supervisor, "ghost");
    return s["last_exit"] == "exited with code 127 (command not found)";
  }));
  supervisor.stop();
}

TEST(Supervisor, ServerThatNeverOpensItsSocket) {
  LogCapture log;
  TempDir dir;
  auto script = dir.script("mute.sh", "#!/bin/sh\nexec sleep 60\n");
  auto config = server("mute", dir / "mute.socket", script);
  config.ready_timeout = 300ms;
  IoThread io;
  Supervisor supervisor(io.io, {config}, fast_timing());
  supervisor.start();
  EXPECT_FALSE(supervisor.wait_ready(1s));
  EXPECT_TRUE(
      log.contains("pluginserver 'mute' did not open its socket " + dir / "mute.socket" + " within 300ms"))
      << log.dump();
  EXPECT_TRUE(log.contains("pluginserver 'mute' is not ready after 1000ms")) << log.dump();
  pid_t pid = pid_of(supervisor, "mute");
  EXPECT_EQ(status_of(supervisor, "mute")["state"], "starting");
  supervisor.stop();
  EXPECT_FALSE(process_alive(pid));
}

TEST(Supervisor, KilledServerIsRestartedWithANewPidAndServesAgain) {
  TempDir dir;
  auto sock = dir / "k.socket";
  IoThread io;
  Supervisor supervisor(io.io, {python_server("k", sock)}, fast_timing());
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s));
  pid_t first = pid_of(supervisor, "k");
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] {
    pid_t now = pid_of(supervisor, "k");
    return now > 0 && now != first && supervisor.is_ready("k");
  }));
  pid_t second = pid_of(supervisor, "k");
  EXPECT_EQ(ask(sock), "pong " + std::to_string(second) + "\n");
  auto status = status_of(supervisor, "k");
  EXPECT_EQ(status["restarts"], 1);
  EXPECT_EQ(status["last_exit"], "killed by signal 9 (Killed)");
  supervisor.stop();
}

TEST(Supervisor, StopEscalatesToSigkillAndTakesTheProcessGroup) {
  LogCapture log;
  TempDir dir;
  auto sock = dir / "stubborn.socket";
  IoThread io;
  Supervisor supervisor(io.io, {python_server("stubborn", sock, "--ignore-term --child")}, fast_timing());
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s));
  pid_t pid = pid_of(supervisor, "stubborn");
  pid_t grandchild = 0;
  std::ifstream(sock + ".child") >> grandchild;
  ASSERT_TRUE(process_alive(grandchild));
  auto started = std::chrono::steady_clock::now();
  supervisor.stop();
  EXPECT_GE(std::chrono::steady_clock::now() - started, 450ms);  // waited the grace
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_FALSE(process_alive(pid));
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }));
  EXPECT_TRUE(log.contains("still running 500ms after SIGTERM: SIGKILL")) << log.dump();
  EXPECT_EQ(status_of(supervisor, "stubborn")["last_exit"], "killed by signal 9 (Killed)");
}

TEST(Supervisor, ReloadRestartsOnlyServersWhoseCommandsChanged) {
  TempDir dir;
  IoThread io;
  auto a = python_server("a", dir / "a.socket");
  auto b = python_server("b", dir / "b.socket");
  auto gone = python_server("gone", dir / "gone.socket");
  Supervisor supervisor(io.io, {a, b, gone}, fast_timing());
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s));
  pid_t a_pid = pid_of(supervisor, "a"), b_pid = pid_of(supervisor, "b"),
        gone_pid = pid_of(supervisor, "gone");

  auto b2 = python_server("b", dir / "b.socket", "--stdout v2");
  auto a2 = a;
  a2.timeout = 1234ms;  // not a command: no restart
  auto c = python_server("c", dir / "c.socket");
  supervisor.apply({a2, b2, c});
  EXPECT_TRUE(eventually([&] {
    pid_t b_now = pid_of(supervisor, "b");
    return b_now > 0 && b_now != b_pid && supervisor.is_ready("b") && supervisor.is_ready("c") &&
           status_of(supervisor, "gone").is_null();
  })) << supervisor.status().dump();
  EXPECT_EQ(pid_of(supervisor, "a"), a_pid);
  EXPECT_TRUE(process_alive(a_pid));
  EXPECT_FALSE(process_alive(b_pid));
  EXPECT_FALSE(process_alive(gone_pid));
  EXPECT_EQ(status_of(supervisor, "b")["start_cmd"], *b2.start_cmd);
  EXPECT_EQ(supervisor.status().size(), 3u);
  supervisor.stop();
  EXPECT_TRUE(live_children().empty());
}

TEST(Supervisor, UnresponsiveServerIsKilledAndRestarted) {
  TempDir dir;
  IoThread io;
  Supervisor supervisor(io.io, {python_server("hung", dir / "hung.socket")}, fast_timing());
  // Each new process is announced (the gateway then forgets the instances of the earlier one).
  std::atomic<int> processes_started{0};
  supervisor.on_process_started([&](const ServerConfig& server) {
    if (server.name == "hung") ++processes_started;
  });
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s));
  EXPECT_EQ(processes_started.load(), 1);
  pid_t first = pid_of(supervisor, "hung");
  supervisor.report_fault("hung", Supervisor::Fault::timeout, "no answer within 1000ms");
  EXPECT_TRUE(eventually([&] {
    pid_t now = pid_of(supervisor, "hung");
    return now > 0 && now != first && supervisor.is_ready("hung");
  }));
  EXPECT_FALSE(process_alive(first));
  EXPECT_EQ(processes_started.load(), 2);
  supervisor.stop();
}

// A hung server makes every event waiting on it time out at once: each reports it. Only the first
// kills (one error line); the others change nothing, and cannot kill the next process either.
TEST(Supervisor, ManyReportsOfOneHangKillOnce) {
  LogCapture log;
  TempDir dir;
  IoThread io;
  Supervisor supervisor(io.io, {python_server("hung", dir / "hung.socket")}, fast_timing());
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s));
  pid_t first = pid_of(supervisor, "hung");
  for (int i = 0; i < 8; ++i) supervisor.report_fault("hung", Supervisor::Fault::timeout, "no answer");
  EXPECT_TRUE(eventually([&] {
    pid_t now = pid_of(supervisor, "hung");
    return now > 0 && now != first && supervisor.is_ready("hung");
  }));
  EXPECT_EQ(status_of(supervisor, "hung")["restarts"], 1) << supervisor.status().dump();
  size_t kills = 0;
  for (const auto& line : log.sink->last_formatted())
    if (line.find("did not answer in time (no answer): killing it") != std::string::npos) ++kills;
  EXPECT_EQ(kills, 1u) << log.dump();
  supervisor.stop();
}

// The event after a reported fault (the same request's log phase, run at once by the same worker)
// must be held for the restart: the server stops counting as ready in the reporting thread, before
// the supervisor's thread has killed anything. Before, the next event could still find it ready,
// go to the process being killed, and fail with it.
TEST(Supervisor, AReportedServerIsNotReadyWhenReportFaultReturns) {
  TempDir dir;
  IoThread io;
  Supervisor supervisor(io.io, {python_server("hung", dir / "hung.socket")}, fast_timing());
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s));
  pid_t first = pid_of(supervisor, "hung");
  for (int round = 0; round < 5; ++round) {  // the old race was lost most of the time, not always
    supervisor.report_fault("hung", Supervisor::Fault::timeout, "no answer");
    EXPECT_FALSE(supervisor.is_ready("hung")) << "round " << round;
    ASSERT_TRUE(eventually([&] {
      pid_t now = pid_of(supervisor, "hung");
      return now > 0 && now != first && supervisor.is_ready("hung");
    })) << supervisor.status().dump();
    first = pid_of(supervisor, "hung");
  }
  supervisor.stop();
}

// Runs `count` await_ready() calls on a worker io_context of its own (as the gateway's workers
// do); each result with the time it took.
struct HeldRequests {
  struct Result {
    bool ready = false;
    std::chrono::milliseconds took{0};
  };
  std::vector<Result> results;
  HeldRequests(Supervisor& supervisor, const std::string& server, std::size_t count,
               std::chrono::milliseconds limit) {
    boost::asio::io_context worker;
    results.resize(count);
    const auto began = std::chrono::steady_clock::now();
    for (auto& result : results)
      boost::asio::co_spawn(
          worker,
          [&, began]() -> boost::asio::awaitable<void> {
            result.ready = co_await supervisor.await_ready(server, began + limit);
            result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - began);
          },
          boost::asio::detached);
    worker.run();
  }
  std::size_t ready_count() const {
    return std::count_if(results.begin(), results.end(), [](const Result& r) { return r.ready; });
  }
};

TEST(Supervisor, HeldRequestsGoOnOnceAKilledServerIsBack) {
  TempDir dir;
  IoThread io;
  Supervisor supervisor(io.io, {python_server("k", dir / "k.socket")}, fast_timing());
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s));
  {
    HeldRequests ready(supervisor, "k", 3, 5000ms);  // ready: no wait at all
    EXPECT_EQ(ready.ready_count(), 3u);
    EXPECT_LT(ready.results[0].took, 1000ms);  // far below the 5 s limit: not held
  }
  pid_t first = pid_of(supervisor, "k");
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return !supervisor.is_ready("k"); }));
  HeldRequests held(supervisor, "k", 20, 5000ms);
  EXPECT_EQ(held.ready_count(), 20u);
  EXPECT_NE(pid_of(supervisor, "k"), first);
  for (const auto& r : held.results) EXPECT_LT(r.took, 4000ms) << "woken by the readiness, not the deadline";
  supervisor.stop();
}

TEST(Supervisor, HeldRequestsAreBoundedInTimeAndNumber) {
  TempDir dir;
  auto script = dir.script("mute.sh", "#!/bin/sh\nexec sleep 60\n");
  IoThread io;
  Supervisor supervisor(io.io, {server("mute", dir / "mute.socket", script)}, fast_timing());
  supervisor.start();
  // The limit is far above the time it takes to start 1,029 coroutines (300 ms under ASan on a
  // loaded machine), so "refused at once" and "held to the limit" cannot be mistaken for each other.
  constexpr auto kLimit = 2000ms;
  HeldRequests held(supervisor, "mute", Supervisor::kMaxReadyWaiters + 5, kLimit);
  EXPECT_EQ(held.ready_count(), 0u);
  std::size_t refused_at_once = 0;
  for (const auto& r : held.results) {
    if (r.took < kLimit / 2) {
      ++refused_at_once;
    } else {
      EXPECT_GE(r.took, kLimit);
      EXPECT_LT(r.took, kLimit + 2000ms);
    }
  }
  EXPECT_EQ(refused_at_once, 5u) << "beyond kMaxReadyWaiters a request is not held";
  HeldRequests unknown(supervisor, "nobody", 1, kLimit);
  EXPECT_LT(unknown.results[0].took, kLimit / 2);
  supervisor.stop();
}

TEST(Supervisor, ExternallyManagedServerIsOnlyProbed) {
  TempDir dir;
  auto sock = dir / "ext.socket";
  ServerConfig ext = python_server("ext", sock);
  ext.start_cmd.reset();
  IoThread io;
  Supervisor supervisor(io.io, {ext}, fast_timing());
  supervisor.start();
  EXPECT_FALSE(supervisor.wait_ready(300ms));
  EXPECT_EQ(status_of(supervisor, "ext")["state"], "external");
  // Someone else starts it.
  Spawned other = spawn_process({"/usr/bin/python3", fixture(), sock});
  EXPECT_TRUE(supervisor.wait_ready(10s));
  EXPECT_TRUE(status_of(supervisor, "ext")["pid"].is_null());
  supervisor.stop();
  EXPECT_EQ(status_of(supervisor, "ext")["state"], "stopped");
  EXPECT_TRUE(process_alive(other.pid));  // not ours to stop
  ::kill(other.pid, SIGKILL);
  ::waitpid(other.pid, nullptr, 0);
  ::close(other.stdout_fd);
  ::close(other.stderr_fd);
}

// Run as a separate process by GatewayKilledWithSigkillTakesItsServersAlong: a "gateway" that
// supervises one server and never stops it.
TEST(SupervisorChild, DISABLED_RunUntilKilled) {
  const char* sock = std::getenv("GH_TEST_SOCKET");
  ASSERT_NE(sock, nullptr);
  IoThread io;
  Supervisor supervisor(io.io, {python_server("orphan", sock)}, fast_timing());
  supervisor.start();
  ASSERT_TRUE(supervisor.wait_ready(10s));
  std::ofstream(std::string(sock) + ".pid") << pid_of(supervisor, "orphan");
  std::this_thread::sleep_for(60s);
}

TEST(Supervisor, GatewayKilledWithSigkillTakesItsServersAlong) {
  TempDir dir;
  auto sock = dir / "orphan.socket";
  setenv("GH_TEST_SOCKET", sock.c_str(), 1);
  Spawned gateway = spawn_process({"/proc/self/exe", "--gtest_also_run_disabled_tests",
                                   "--gtest_filter=SupervisorChild.DISABLED_RunUntilKilled"},
                                  {.new_process_group = true, .parent_death_kill = true});
  pid_t server_pid = 0;
  ASSERT_TRUE(eventually(
      [&] {
        std::ifstream in(sock + ".pid");
        return static_cast<bool>(in >> server_pid) && server_pid > 0;
      },
      15s));
  ASSERT_TRUE(process_alive(server_pid));
  ::kill(gateway.pid, SIGKILL);
  ::waitpid(gateway.pid, nullptr, 0);
  EXPECT_TRUE(eventually([&] { return !process_alive(server_pid); })) << "the server outlived its gateway";
  ::close(gateway.stdout_fd);
  ::close(gateway.stderr_fd);
}

}  // namespace
}  // namespace gh::pluginserver
