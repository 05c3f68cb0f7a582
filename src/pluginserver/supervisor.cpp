#include "pluginserver/supervisor.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "common/log.h"
#include "common/strings.h"
#include "pluginserver/process.h"

namespace gh::pluginserver {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxLine = 64 * 1024;

// Can we connect to the Unix socket right now? (a blocking connect on AF_UNIX returns at once)
bool socket_accepts(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// Is a socket listening at `path`? Read from /proc/net/unix (a listening socket has the
// __SO_ACCEPTCON flag, 0x10000), so that the probe opens no connection: a server never sees one
// that closes without a request (go-pdk servers log "EOF" for each). nullopt if unreadable.
std::optional<bool> socket_listening(const std::string& path) {
  std::ifstream table("/proc/net/unix");
  if (!table) return std::nullopt;
  constexpr unsigned long kAcceptCon = 0x10000;
  std::string line;
  std::getline(table, line);  // the column names
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, refs, protocol, flags, type, state, inode, bound;
    if (!(fields >> slot >> refs >> protocol >> flags >> type >> state >> inode)) continue;
    std::getline(fields >> std::ws, bound);  // the rest of the line: a path may hold spaces
    if (bound == path && (std::strtoul(flags.c_str(), nullptr, 16) & kAcceptCon) != 0) return true;
  }
  return false;
}

// Ready when listening. A connection is tried only when the table does not show it (unreadable
// /proc, or a server that bound a relative path): connecting to a socket nobody listens on is
// refused without the server noticing.
bool socket_ready(const std::string& path) {
  return socket_listening(path).value_or(false) || socket_accepts(path);
}

// A socket file left by a dead server would make the readiness probe (and the server's own
// bind) fail; only sockets are removed, never a regular file someone mistyped as the path.
void remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
}

// Signals the server's process group (and the server itself, should the group be gone).
void signal_server(pid_t pid, int sig) {
  if (pid <= 0) return;
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);
}

// Level for a server's stderr line: most servers log everything there, so only lines that look
// like errors are errors, lines that say info/debug are info, the rest is a warning.
spdlog::level::level_enum stderr_level(const std::string& line) {
  std::string head = to_lower(std::string_view(line).substr(0, 80));
  for (auto word : {"error", "fatal", "panic", "critical", "traceback", "exception"})
    if (head.find(word) != std::string::npos) return spdlog::level::err;
  for (auto word : {"info", "debug", "notice", "listening"})
    if (head.find(word) != std::string::npos) return spdlog::level::info;
  return spdlog::level::warn;
}

}  // namespace

struct Supervisor::Impl : std::enable_shared_from_this<Supervisor::Impl> {
  enum class State { stopped, starting, running, restarting, stopping, external };

  struct Server {
    explicit Server(asio::io_context& io, ServerConfig c) : config(std::move(c)), timer(io), kill_timer(io) {}
    ServerConfig config;
    // Read by other threads under Impl::mutex:
    State state = State::stopped;
    pid_t pid = -1;
    int restarts = 0;
    std::string last_exit;
    std::optional<int> last_exit_code;  // the exit status, or 128 + the signal (shells' $?)
    bool ready = false;
    bool loop_running = false;
    bool removed = false;  // reload dropped it: forget it once its process is gone
    // io thread only:
    bool stopping = false;
    unsigned generation = 0;  // bumped per spawn/exit so stale probes end
    std::chrono::milliseconds backoff{0};
    Clock::time_point started_at;
    asio::steady_timer timer;             // backoff delay
    asio::steady_timer kill_timer;        // SIGTERM grace
    std::shared_ptr<Server> replacement;  // reload: start this once the old process is gone
  };
  using ServerPtr = std::shared_ptr<Server>;

  // A request held until its server is ready: woken through its own executor (a timer is not
  // thread-safe). The timer belongs to the waiting coroutine; the entry leaves the list when that
  // coroutine resumes or is destroyed, so the supervisor never posts to a worker that is gone.
  struct Waiter {
    asio::any_io_executor executor;
    std::weak_ptr<asio::steady_timer> timer;
  };

  Impl(asio::io_context& io_, SupervisorTiming t) : io(io_), timing(t) {}

  asio::io_context& io;
  SupervisorTiming timing;
  mutable std::mutex mutex;
  std::condition_variable changed;  // readiness and loop ends
  std::map<std::string, ServerPtr, std::less<>> servers;
  std::function<void(const ServerConfig&)> process_started;          // set before start(); io thread only
  std::map<std::string, std::vector<Waiter*>, std::less<>> waiters;  // by server name, under mutex

  // Under mutex: the server became ready, every request held for it goes on.
  void wake_waiters_locked(const std::string& name) {
    auto it = waiters.find(name);
    if (it == waiters.end()) return;
    for (Waiter* waiter : it->second)
      asio::post(waiter->executor, [timer = waiter->timer] {
        if (auto t = timer.lock()) t->expires_at(Clock::time_point());  // ends (or pre-empts) the wait
      });
    waiters.erase(it);
  }

  static const char* state_name(State s) {
    switch (s) {
      case State::stopped:
        return "stopped";
      case State::starting:
        return "starting";
      case State::running:
        return "running";
      case State::restarting:
        return "restarting";
      case State::stopping:
        return "stopping";
      case State::external:
        return "external";
    }
    return "unknown";
  }

  template <class F>
  void update(F&& f) {
    {
      std::lock_guard lock(mutex);
      f();
    }
    changed.notify_all();
  }

  // ---- io thread ----

  void launch(const ServerPtr& s) {
    s->stopping = false;
    if (!s->config.start_cmd) {
      update([&] { s->state = State::external; });
      asio::co_spawn(io, probe(s, s->generation), asio::detached);
      return;
    }
    update([&] { s->loop_running = true; });
    s->backoff = 0ms;  // the first restart is immediate
    asio::co_spawn(io, supervise(s), [self = shared_from_this(), s](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("[pluginserver] supervision of '{}' failed: {}", s->config.name, ex.what());
        }
      }
      self->loop_ended(s);
    });
  }

  void loop_ended(const ServerPtr& s) {
    update([&] {
      s->loop_running = false;
      s->state = State::stopped;
      s->ready = false;
      s->pid = -1;
      auto it = servers.find(s->config.name);
      if (s->removed && it != servers.end() && it->second == s) servers.erase(it);
    });
    if (auto next = std::move(s->replacement)) {
      update([&] { servers[next->config.name] = next; });
      launch(next);
    }
  }

  asio::awaitable<void> supervise(ServerPtr s) {
    const auto& name = s->config.name;
    while (!s->stopping) {
      remove_stale_socket(s->config.socket);
      spdlog::info("[pluginserver] starting pluginserver process for {}", name);
      Spawned child;
      try {
        child = spawn_process(split_command(*s->config.start_cmd));
      } catch (const std::exception& e) {
        spdlog::error("[pluginserver] cannot start pluginserver '{}': {}", name, e.what());
        update([&] { s->last_exit = std::string("spawn failed: ") + e.what(); });
      }
      if (child.pid > 0) co_await run_child(s, child);
      if (s->stopping) break;
      co_await wait_backoff(s);
    }
  }

  // Runs one process of a server until it has exited and been reaped.
  asio::awaitable<void> run_child(ServerPtr s, Spawned child) {
    const auto& name = s->config.name;
    s->started_at = Clock::now();
    ++s->generation;
    update([&] {
      s->pid = child.pid;
      s->state = State::starting;
      s->ready = false;
    });
    spdlog::info("[pluginserver] started {}, pid {}", name, child.pid);
    if (process_started) process_started(s->config);
    asio::co_spawn(io, relay(s, child.stdout_fd, child.pid, false), asio::detached);
    asio::co_spawn(io, relay(s, child.stderr_fd, child.pid, true), asio::detached);
    asio::co_spawn(io, probe(s, s->generation), asio::detached);

    int status = 0;
    int pidfd = open_pidfd(child.pid);
    if (pidfd >= 0) {
      asio::posix::stream_descriptor exit_watch(io, pidfd);
      co_await exit_watch.async_wait(asio::posix::stream_descriptor::wait_read, kAwaitable);
    }
    while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    signal_server(child.pid, SIGKILL);  // whatever the server left running in its group
    s->kill_timer.cancel();
    ++s->generation;
    std::string exit_text = describe_exit(status);
    update([&] {
      s->pid = -1;
      s->ready = false;
      s->last_exit = exit_text;
      s->last_exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    });
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
      spdlog::error(
          "[pluginserver] external pluginserver \"{}\" start command \"{}\" exited with \"command not "
          "found\"",
          name, *s->config.start_cmd);
    else if (s->stopping)
      spdlog::info("[pluginserver] successfully stopped pluginserver '{}', pid {} ({})", name, child.pid,
                   exit_text);
    else
      spdlog::error("[pluginserver] external pluginserver '{}' (pid {}) terminated: {}", name, child.pid,
                    exit_text);
  }

  asio::awaitable<void> wait_backoff(ServerPtr s) {
    // A server that ran a while and died is restarted at once (held requests wait for it); one
    // that dies again soon after its start is in a crash loop: 1 s, 2 s, 4 s, ... between tries.
    if (Clock::now() - s->started_at >= timing.stable_after) s->backoff = 0ms;
    auto delay = s->backoff;
    s->backoff = delay.count() == 0 ? timing.backoff_initial : std::min(delay * 2, timing.backoff_cap);
    update([&] {
      s->state = State::restarting;
      ++s->restarts;
    });
    spdlog::warn("[pluginserver] restarting pluginserver '{}' in {}ms (restart #{})", s->config.name,
                 delay.count(), s->restarts);
    s->timer.expires_after(delay);
    co_await s->timer.async_wait(kAwaitable);  // cancelled by stop
  }

  // Connects to the socket until it accepts; logs once if it takes longer than ready_timeout.
  asio::awaitable<void> probe(ServerPtr s, unsigned generation) {
    asio::steady_timer timer(io);
    const auto deadline = Clock::now() + s->config.ready_timeout;
    bool late = false;
    while (s->generation == generation && !s->stopping) {
      if (socket_ready(s->config.socket)) {
        update([&] {
          s->ready = true;
          if (s->state == State::starting) s->state = State::running;
          wake_waiters_locked(s->config.name);
        });
        spdlog::info("[pluginserver] pluginserver '{}' is ready: {} accepts connections", s->config.name,
                     s->config.socket);
        co_return;
      }
      if (!late && Clock::now() > deadline) {
        late = true;
        spdlog::error("[pluginserver] pluginserver '{}' did not open its socket {} within {}ms",
                      s->config.name, s->config.socket, s->config.ready_timeout.count());
      }
      timer.expires_after(late ? std::max(timing.probe_interval, std::chrono::milliseconds(1000))
                               : timing.probe_interval);
      co_await timer.async_wait(kAwaitable);
    }
  }

  // Re-logs a server's output line by line as "[<name>:<pid>] <line>".
  asio::awaitable<void> relay(ServerPtr s, int fd, pid_t pid, bool is_stderr) {
    asio::posix::stream_descriptor pipe(io, fd);
    std::string buffer;
    auto emit = [&](std::string_view raw) {
      std::string line = strip_ansi(raw);
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
      if (line.empty()) return;
      auto level = is_stderr ? stderr_level(line) : spdlog::level::info;
      spdlog::log(level, "[{}:{}] {}", s->config.name, pid, line);
    };
    while (true) {
      auto [ec, n] =
          co_await asio::async_read_until(pipe, asio::dynamic_buffer(buffer, kMaxLine), '\n', kAwaitable);
      if (!ec) {
        emit(std::string_view(buffer).substr(0, n));
        buffer.erase(0, n);
      } else if (ec == asio::error::not_found) {  // line longer than kMaxLine: log it in pieces
        emit(buffer);
        buffer.clear();
      } else {
        emit(buffer);  // partial last line
        co_return;
      }
    }
  }

  void begin_stop(const ServerPtr& s) {
    s->stopping = true;
    s->timer.cancel();
    pid_t pid;
    {
      std::lock_guard lock(mutex);
      pid = s->pid;
      if (s->loop_running) {
        s->state = State::stopping;
      } else if (s->state == State::external) {  // not ours to signal: just stop watching it
        s->state = State::stopped;
        s->ready = false;
      }
    }
    changed.notify_all();
    if (pid <= 0) return;
    signal_server(pid, SIGTERM);
    s->kill_timer.expires_after(timing.stop_grace);
    s->kill_timer.async_wait([s, pid, grace = timing.stop_grace](boost::system::error_code ec) {
      if (ec) return;
      spdlog::warn("[pluginserver] pluginserver '{}' (pid {}) still running {}ms after SIGTERM: SIGKILL",
                   s->config.name, pid, grace.count());
      signal_server(pid, SIGKILL);
    });
  }

  ServerPtr find(std::string_view name) const {
    std::lock_guard lock(mutex);
    auto it = servers.find(name);
    return it == servers.end() ? nullptr : it->second;
  }

  bool any_loop_running() const {
    for (const auto& [name, s] : servers)
      if (s->loop_running) return true;
    return false;
  }
};

Supervisor::Supervisor(asio::io_context& io, std::vector<ServerConfig> servers, SupervisorTiming timing)
    : impl_(std::make_shared<Impl>(io, timing)) {
  for (auto& config : servers) {
    auto name = config.name;
    impl_->servers.emplace(name, std::make_shared<Impl::Server>(io, std::move(config)));
  }
}

Supervisor::~Supervisor() {
  // Last resort if stop() was not called: no server may outlive its supervisor.
  std::lock_guard lock(impl_->mutex);
  for (const auto& [name, s] : impl_->servers) signal_server(s->pid, SIGKILL);
}

void Supervisor::on_process_started(std::function<void(const ServerConfig& server)> callback) {
  impl_->process_started = std::move(callback);
}

void Supervisor::start() {
  asio::post(impl_->io, [impl = impl_] {
    std::vector<Impl::ServerPtr> to_launch;
    {
      std::lock_guard lock(impl->mutex);
      for (const auto& [name, s] : impl->servers)
        if (!s->loop_running && s->state != Impl::State::external) to_launch.push_back(s);
    }
    for (const auto& s : to_launch) impl->launch(s);
  });
}

bool Supervisor::wait_ready(std::chrono::milliseconds timeout) {
  if (impl_->io.get_executor().running_in_this_thread())
    throw std::logic_error("Supervisor::wait_ready called on the supervisor's io thread");
  std::unique_lock lock(impl_->mutex);
  auto all_ready = [&] {
    for (const auto& [name, s] : impl_->servers)
      if (!s->ready) return false;
    return true;
  };
  if (impl_->changed.wait_for(lock, timeout, all_ready)) return true;
  for (const auto& [name, s] : impl_->servers)
    if (!s->ready)
      spdlog::error(
          "[pluginserver] pluginserver '{}' is not ready after {}ms: socket {} does not accept connections "
          "(state {}, pid {}, restarts {}, last exit: {})",
          name, timeout.count(), s->config.socket, Impl::state_name(s->state), s->pid, s->restarts,
          s->last_exit.empty() ? "none" : s->last_exit);
  return false;
}

void Supervisor::stop() {
  if (impl_->io.get_executor().running_in_this_thread())
    throw std::logic_error("Supervisor::stop called on the supervisor's io thread");
  auto signalled = std::make_shared<std::promise<void>>();
  auto signalled_future = signalled->get_future();
  asio::post(impl_->io, [impl = impl_, signalled] {
    std::vector<Impl::ServerPtr> all;
    {
      std::lock_guard lock(impl->mutex);
      for (const auto& [name, s] : impl->servers) all.push_back(s);
    }
    for (const auto& s : all) {
      s->replacement.reset();
      impl->begin_stop(s);
    }
    signalled->set_value();
  });
  // The grace, plus time to reap; if the io thread is not running, kill directly.
  const auto deadline = Clock::now() + impl_->timing.stop_grace + 5s;
  const bool posted_ran = signalled_future.wait_until(deadline) == std::future_status::ready;
  std::unique_lock lock(impl_->mutex);
  if (!posted_ran || !impl_->changed.wait_until(lock, deadline, [&] { return !impl_->any_loop_running(); })) {
    spdlog::error("[pluginserver] stop: supervisor did not finish in time; killing the remaining servers");
    for (const auto& [name, s] : impl_->servers) {
      signal_server(s->pid, SIGKILL);
      if (s->pid > 0) ::waitpid(s->pid, nullptr, 0);
    }
  }
}

void Supervisor::apply(std::vector<ServerConfig> configs) {
  asio::post(impl_->io, [impl = impl_, configs = std::move(configs)]() mutable {
    std::map<std::string, Impl::ServerPtr, std::less<>> current;
    {
      std::lock_guard lock(impl->mutex);
      current = impl->servers;
    }
    for (auto& [name, s] : current) {
      auto same_name = [&](const ServerConfig& c) { return c.name == name; };
      if (std::none_of(configs.begin(), configs.end(), same_name)) {
        spdlog::info("[pluginserver] reload: pluginserver '{}' removed", name);
        s->removed = true;
        impl->begin_stop(s);
        if (!s->loop_running) impl->update([&] { impl->servers.erase(name); });
      }
    }
    for (auto& config : configs) {
      auto it = current.find(config.name);
      if (it != current.end() && it->second->config.same_process(config)) {
        impl->update([&] { it->second->config = config; });  // timeouts, policy: no restart needed
        continue;
      }
      auto fresh = std::make_shared<Impl::Server>(impl->io, config);
      if (it == current.end()) {
        spdlog::info("[pluginserver] reload: new pluginserver '{}'", config.name);
        impl->update([&] { impl->servers[config.name] = fresh; });
        impl->launch(fresh);
      } else if (it->second->loop_running) {
        spdlog::info("[pluginserver] reload: commands of pluginserver '{}' changed, restarting it",
                     config.name);
        it->second->replacement = fresh;
        impl->begin_stop(it->second);
      } else {
        it->second->stopping = true;  // ends the old object's socket probe
        impl->update([&] { impl->servers[config.name] = fresh; });
        impl->launch(fresh);
      }
    }
  });
}

nlohmann::json Supervisor::status() const {
  nlohmann::json out = nlohmann::json::array();
  std::lock_guard lock(impl_->mutex);
  for (const auto& [name, s] : impl_->servers) {
    out.push_back(
        {{"name", name},
         {"state", Impl::state_name(s->state)},
         {"pid", s->pid > 0 ? nlohmann::json(s->pid) : nlohmann::json()},
         {"restarts", s->restarts},
         {"last_exit", s->last_exit.empty() ? nlohmann::json() : nlohmann::json(s->last_exit)},
         {"last_exit_code", s->last_exit_code ? nlohmann::json(*s->last_exit_code) : nlohmann::json()},
         {"socket", s->config.socket},
         {"ready", s->ready},
         {"managed", s->config.start_cmd.has_value()},
         {"start_cmd", s->config.start_cmd ? nlohmann::json(*s->config.start_cmd) : nlohmann::json()}});
  }
  return out;
}

bool Supervisor::is_ready(std::string_view server) const {
  auto s = impl_->find(server);
  std::lock_guard lock(impl_->mutex);
  return s && s->ready;
}

asio::awaitable<bool> Supervisor::await_ready(std::string_view server, Clock::time_point deadline) {
  auto impl = impl_;
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, deadline);
  Impl::Waiter waiter{timer->get_executor(), timer};
  const std::string name(server);
  {
    std::lock_guard lock(impl->mutex);
    auto it = impl->servers.find(name);
    if (it == impl->servers.end()) co_return false;
    if (it->second->ready) co_return true;
    auto& list = impl->waiters[name];
    if (list.size() >= kMaxReadyWaiters) co_return false;
    list.push_back(&waiter);
  }
  // Leaves the list however this coroutine ends (woken, timed out, or destroyed with its worker).
  struct Unlist {
    Impl& impl;
    const std::string& name;
    Impl::Waiter* waiter;
    ~Unlist() {
      std::lock_guard lock(impl.mutex);
      auto it = impl.waiters.find(name);
      if (it == impl.waiters.end()) return;
      std::erase(it->second, waiter);
      if (it->second.empty()) impl.waiters.erase(it);
    }
  } unlist{*impl, name, &waiter};
  co_await timer->async_wait(kAwaitable);
  std::lock_guard lock(impl->mutex);
  auto it = impl->servers.find(name);
  co_return it != impl->servers.end() && it->second->ready;
}

void Supervisor::connect_refused(std::string_view server) {
  auto s = impl_->find(server);
  std::string socket;
  {
    std::lock_guard lock(impl_->mutex);                   // apply() may replace the config meanwhile
    if (!s || !s->config.start_cmd || !s->ready) return;  // external servers: see report_fault
    socket = s->config.socket;
  }
  if (socket_ready(socket)) return;  // not a dead server (a full listen backlog, say)
  impl_->update([&] { s->ready = false; });
  spdlog::info(
      "[pluginserver] pluginserver '{}' refused a connection: holding its requests until it is ready",
      server);
  // The exit of a dead process restarts it and its probe sets `ready`; this probe covers a live
  // process that stopped listening (it ends with the process: the generation changes).
  asio::post(impl_->io,
             [impl = impl_, s] { asio::co_spawn(impl->io, impl->probe(s, s->generation), asio::detached); });
}

void Supervisor::report_fault(std::string_view server, Fault fault, std::string_view detail) {
  const char* what = fault == Fault::timeout ? "did not answer in time" : "broke the protocol";
  auto s = impl_->find(server);
  if (!s) return;
  // Not ready from now on, in the caller's thread: the next event of the same request (its log
  // phase, say) must wait for the restart, not go to the process about to be killed (where it
  // would be lost with the connection, and fail instead of being held).
  pid_t pid = -1;
  bool was_ready = false;
  impl_->update([&] {
    pid = s->pid;
    was_ready = s->ready;
    s->ready = false;
  });
  asio::post(impl_->io, [impl = impl_, s, name = std::string(server), pid, was_ready, what,
                         detail = std::string(detail)] {
    if (!s->config.start_cmd) {  // external: we can only wait for it to answer again
      spdlog::error("[pluginserver] external pluginserver '{}' {} ({}): waiting until it accepts again", name,
                    what, detail);
      asio::co_spawn(impl->io, impl->probe(s, ++s->generation), asio::detached);
      return;
    }
    // Every event that was waiting on a hung server reports it: the first report kills it. The
    // others (and a late report about the old process once a new one is starting) change nothing.
    if (!was_ready) {
      spdlog::debug("[pluginserver] pluginserver '{}' {} ({}): already being restarted", name, what, detail);
      return;
    }
    bool same_process;
    {
      std::lock_guard lock(impl->mutex);
      same_process = pid > 0 && s->pid == pid;
    }
    if (!same_process) {
      spdlog::info("[pluginserver] pluginserver '{}' {} ({}), but its process has exited already", name, what,
                   detail);
      return;
    }
    spdlog::error("[pluginserver] pluginserver '{}' (pid {}) {} ({}): killing it", name, pid, what, detail);
    signal_server(pid, SIGKILL);
  });
}

}  // namespace gh::pluginserver
