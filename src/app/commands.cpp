#include "app/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "admin/admin_server.h"
#include "admin/api.h"
#include "common/log.h"
#include "conf/declarative.h"
#include "conf/error.h"
#include "conf/properties.h"
#include "plugins/native.h"
#include "plugins/runtime.h"
#include "pluginserver/cli.h"
#include "pluginserver/config.h"
#include "proxy/gateway.h"

namespace gh::app {

namespace {

// Without -c, Kong reads /etc/kong/kong.conf, else /etc/kong.conf, when one exists.
std::string conf_file(const Options& opts) {
  if (!opts.conf.empty()) return opts.conf;
  for (const char* path : {"/etc/kong/kong.conf", "/etc/kong.conf"})
    if (std::filesystem::exists(path)) return path;
  return "";
}

// Kong's -v says where the configuration comes from, --vv every property in force (secrets
// masked as GET / masks them).
conf::Properties load(const Options& opts) {
  auto env = conf::current_environment();
  if (!opts.prefix.empty()) env["KONG_PREFIX"] = std::filesystem::absolute(opts.prefix).string();
  const std::string file = conf_file(opts);
  if (file.empty())
    spdlog::info("no configuration file: defaults and KONG_* environment variables");
  else
    spdlog::info("reading configuration file at {}", file);
  auto props = conf::load_properties(file, env);
  for (const auto& [key, value] : props.values)
    spdlog::debug("{} = \"{}\"", key, admin::is_secret_property(key) && !value.empty() ? "******" : value);
  return props;
}

// nginx_daemon = on: the gateway runs in a child process of its own session, and `gatehouse start`
// returns once it serves (exit 0) or with the error that stopped it (exit 1), as `kong start`. The
// child tells the parent through a pipe: "ok", or the error message.
class StartNotice {
 public:
  StartNotice() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error("cannot create a pipe for nginx_daemon");
  }
  ~StartNotice() {
    for (int fd : fds_)
      if (fd >= 0) ::close(fd);
  }
  // Forks. In the child: a new session, standard streams on /dev/null, returns true. In the
  // parent: waits for the child's word and returns false with the exit code in `exit_code`.
  bool fork_child(int& exit_code) {
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed for nginx_daemon");
    if (pid == 0) {
      close_end(0);
      ::setsid();
      int null = ::open("/dev/null", O_RDWR);
      for (int fd : {0, 1, 2}) ::dup2(null, fd);  // the caller's pipes must not stay open
      if (null > 2) ::close(null);
      return true;
    }
    close_end(1);
    std::string word;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fds_[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) word.append(buffer, static_cast<size_t>(n));
    if (word == "ok") {
      std::cout << "gatehouse started (pid " << pid << ")\n";
      exit_code = 0;
    } else {
      std::cerr << "Error: " << (word.empty() ? "gatehouse exited while starting; see the error log" : word)
                << "\n";
      exit_code = 1;
    }
    return false;
  }
  void tell(std::string_view word) {
    if (fds_[1] < 0) return;
    while (!word.empty()) {
      ssize_t n = ::write(fds_[1], word.data(), word.size());
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) word.remove_prefix(static_cast<size_t>(n));
    }
    close_end(1);
  }

 private:
  void close_end(int end) {
    if (fds_[end] >= 0) ::close(fds_[end]);
    fds_[end] = -1;
  }
  int fds_[2] = {-1, -1};
};

std::string pid_file(const conf::Properties& props) {
  return (std::filesystem::path(props.prefix) / "pids" / "gatehouse.pid").string();
}

// Alive and not a zombie: a gateway that exited but was not yet reaped by its parent (a shell,
// a test runner) has stopped serving.
bool process_running(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

// The pid of the running gateway for this prefix, or 0.
pid_t running_pid(const conf::Properties& props) {
  std::ifstream in(pid_file(props));
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return process_running(pid) ? pid : 0;
}

// The running gateway's pid, or 0 after telling the user nothing runs in this prefix.
pid_t require_running(const conf::Properties& props) {
  pid_t pid = running_pid(props);
  if (!pid) std::cerr << "Error: gatehouse is not running in " << props.prefix << "\n";
  return pid;
}

// The outcome of the running gateway's last reload (proxy::reload_result_file), if `pid` wrote one.
std::optional<nlohmann::json> reload_result(const conf::Properties& props, pid_t pid) {
  std::ifstream in(proxy::reload_result_file(props.prefix));
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto result = nlohmann::json::parse(line, nullptr, false);
  if (!result.is_object() || result.value("pid", pid_t{0}) != pid) return std::nullopt;
  return result;
}

uint64_t last_reload_attempt(const conf::Properties& props, pid_t pid) {
  auto result = reload_result(props, pid);
  return result ? result->value("attempt", uint64_t{0}) : 0;
}

// Loading a configuration runs the plugin servers' query commands, each bounded by its timeout.
constexpr std::chrono::seconds kReloadWait{120};

// Runs `body`, turning configuration errors into one clear line on stderr and exit code 1.
template <typename F>
int guarded(F&& body) {
  try {
    return body();
  } catch (const conf::ConfigError& e) {
    std::cerr << "Error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "Error: " << e.what() << "\n";
    return 1;
  }
}

// GET `path` on the first plain admin listener; returns the status code (0 if unreachable).
int admin_get(const conf::Properties& props, const std::string& path, std::string* body = nullptr) {
  for (const auto& l : props.admin_listen) {
    if (l.ssl) continue;
    try {
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket socket(io);
      std::string host =
          (l.host == "0.0.0.0" || l.host == "*") ? "127.0.0.1" : (l.host == "::" ? "::1" : l.host);
      socket.connect({boost::asio::ip::make_address(host), l.port});
      std::string req = "GET " + path + " HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n";
      boost::asio::write(socket, boost::asio::buffer(req));
      std::string response;
      boost::system::error_code ec;
      boost::asio::read(socket, boost::asio::dynamic_buffer(response), ec);
      if (response.size() < 12) return 0;
      if (body) *body = response.substr(response.find("\r\n\r\n") + 4);
      return std::stoi(response.substr(9, 3));
    } catch (const std::exception&) {
      return 0;
    }
  }
  return -1;  // no admin listener configured
}

// The admin API has no authentication: the commands that start and query plugin servers (their
// arguments may carry secrets) stay out of it. `gatehouse plugins --running` adds them from the
// kong.conf it was given (with_local_commands).
nlohmann::json without_commands(nlohmann::json document) {
  for (auto& server : document["servers"]) {
    server.erase("start_cmd");
    server.erase("query_cmd");
  }
  return document;
}

void with_local_commands(nlohmann::json& document, const conf::Properties& props) {
  auto servers = pluginserver::servers_from_properties(props.values, props.prefix);
  for (auto& entry : document["servers"])
    for (const auto& server : servers)
      if (entry.value("name", std::string()) == server.name) {
        entry["start_cmd"] = server.start_cmd ? nlohmann::json(*server.start_cmd) : nlohmann::json();
        entry["query_cmd"] = server.query_cmd ? nlohmann::json(*server.query_cmd) : nlohmann::json();
      }
}

}  // namespace

// The control thread: signals, reloads and the plugin-server supervisor run on it. It lives as
// long as the gateway (the servers' parent-death signal is tied to it).
class ControlThread {
 public:
  ControlThread() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~ControlThread() { stop(); }
  // After this no handler runs any more: objects the loop served may then be destroyed.
  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;  // other threads post to it: no single-thread concurrency hint
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

namespace {

// Why the gateway is not ready to serve ("" when it is): a plugin server whose socket does not
// accept yet. GET /status/ready answers 503 with it.
std::string plugin_servers_not_ready(const plugins::PluginRuntime* runtime) {
  if (!runtime || !runtime->supervisor()) return "";
  for (const auto& server : runtime->supervisor()->status())
    if (!server.value("ready", false))
      return "plugin server '" + server.value("name", std::string()) + "' is not ready";
  return "";
}

// The gateway in this process until it stops; `notice` (nginx_daemon) hears "ok" once it serves.
int run_gateway(const Options& opts, const conf::Properties& props, StartNotice* notice) {
  log::init(props.log_level, props.proxy_error_log);
  // The gateway's from the first snapshot on (declared before it: the snapshot's plugins use them).
  auto seqs = std::make_unique<plugins::SeqAllocator>();
  auto memory = std::make_unique<plugins::SharedMemory>();
  auto initial =
      proxy::build_snapshot(props, {1, *seqs, *memory});  // discovery and plugin validation included
  std::filesystem::create_directories(props.prefix);      // plugin servers put their sockets there
  ControlThread control;
  auto servers = pluginserver::servers_from_properties(props.values, props.prefix);
  std::unique_ptr<plugins::PluginRuntime> runtime;
  if (!servers.empty()) {
    runtime = std::make_unique<plugins::PluginRuntime>(control.io());
    runtime->start(servers);
    runtime->track(initial->plugins);
  }
  auto loader = [opts](const proxy::SnapshotLineage& lineage) {
    return proxy::build_snapshot(load(opts), lineage);
  };
  // The gateway owns the first snapshot alone: after a reload it goes with its last request
  // (and the plugin instances only it used are closed).
  proxy::Gateway gateway(loader, std::move(initial), std::move(seqs), std::move(memory), control.io(),
                         runtime.get());
  if (runtime) {
    gateway.on_reload.push_back([&runtime](const core::Snapshot& snapshot) {
      runtime->apply(
          pluginserver::servers_from_properties(snapshot.properties.values, snapshot.properties.prefix));
      runtime->track(snapshot.plugins);  // closes the instances of superseded plugin configs
    });
  }
  // The admin listener first: once the proxy port accepts, `gatehouse health` can answer.
  admin::AdminServer admin(gateway, control.io());
  admin.listen(props.admin_listen);
  admin.listen_status(props.status_listen);
  // However this function ends, by a return or a throw (a proxy port already in use), the runtime
  // goes while the control loop still runs (its supervisor lives there), then the loop stops before
  // the admin server and the gateway it serves are destroyed.
  struct StopControlFirst {
    std::unique_ptr<plugins::PluginRuntime>& runtime;
    ControlThread& control;
    ~StopControlFirst() {
      runtime.reset();
      control.stop();
    }
  } stop_control_first{runtime, control};
  admin.set_readiness([&runtime] { return plugin_servers_not_ready(runtime.get()); });
  admin.add_endpoint("/plugin-servers", [&gateway, &runtime] {
    auto snapshot = gateway.snapshot();
    static const pluginserver::Registry kEmpty;
    const auto* registry =
        snapshot->plugins && snapshot->plugins->registry() ? snapshot->plugins->registry() : &kEmpty;
    return without_commands(
        pluginserver::plugin_servers_json(*registry, runtime ? runtime->supervisor() : nullptr));
  });
  admin.start();
  gateway.on_stop.push_back([&admin] { admin.stop(); });
  // The log plugins' files follow a rotation on SIGUSR1 and on reload; what their queues hold is
  // sent (bounded) once the last log phase ran.
  auto& log_sinks = gateway.shared_memory().log_sinks;
  gateway.on_reopen_logs.push_back([&log_sinks] { log_sinks.request_reopen(); });
  gateway.on_reload.push_back([&log_sinks](const core::Snapshot&) { log_sinks.request_reopen(); });
  gateway.on_stop.push_back([&log_sinks] { log_sinks.shutdown(std::chrono::seconds(5)); });
  gateway.start();
  if (notice) notice->tell("ok");
  return gateway.run();  // the servers were stopped by the drain; stop_control_first does the rest
}

}  // namespace

int cmd_start(const Options& opts) {
  return guarded([&] {
    auto props = load(opts);
    if (pid_t pid = running_pid(props)) {
      std::cerr << "Error: gatehouse is already running in " << props.prefix << " (pid " << pid << ")\n";
      return 1;
    }
    if (!props.daemon) return run_gateway(opts, props, nullptr);
    StartNotice notice;
    int exit_code = 1;
    if (!notice.fork_child(exit_code)) return exit_code;
    try {
      return run_gateway(opts, props, &notice);
    } catch (const std::exception& e) {
      notice.tell(e.what());  // the parent prints it; this process has no terminal any more
      return 1;
    }
  });
}

int cmd_stop(const Options& opts) {
  return guarded([&] {
    auto props = load(opts);
    pid_t pid = require_running(props);
    if (!pid) return 1;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 300 && process_running(pid); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (process_running(pid)) {
      std::cerr << "Error: gatehouse (pid " << pid << ") did not stop within 30 s\n";
      return 1;
    }
    std::cout << "gatehouse stopped\n";
    return 0;
  });
}

int cmd_reload(const Options& opts) {
  return guarded([&] {
    auto props = load(opts);
    pid_t pid = require_running(props);
    if (!pid) return 1;
    const uint64_t before = last_reload_attempt(props, pid);
    ::kill(pid, SIGHUP);
    const auto until = std::chrono::steady_clock::now() + kReloadWait;
    while (std::chrono::steady_clock::now() < until) {
      auto result = reload_result(props, pid);
      if (result && result->value("attempt", uint64_t{0}) > before) {
        if (result->value("ok", false)) {
          std::cout << "gatehouse reloaded (pid " << pid << ", configuration generation "
                    << result->value("generation", uint64_t{0}) << ")\n";
          return 0;
        }
        std::cerr << "Error: reload refused, the previous configuration keeps serving:\n"
                  << result->value("error", std::string()) << "\n";
        return 1;
      }
      if (!process_running(pid)) {
        std::cerr << "Error: gatehouse (pid " << pid << ") exited during the reload; see the error log\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::cerr << "Error: gatehouse (pid " << pid << ") gave no reload outcome within "
              << std::chrono::duration_cast<std::chrono::seconds>(kReloadWait).count()
              << " s; see the error log\n";
    return 1;
  });
}

int cmd_health(const Options& opts) {
  return guarded([&] {
    auto props = load(opts);
    pid_t pid = require_running(props);
    if (!pid) return 1;
    int status = admin_get(props, "/status");
    if (status == 0 || (status > 0 && status != 200)) {
      std::cerr << "gatehouse (pid " << pid << ") is not answering on its admin listener\n";
      return 1;
    }
    std::cout << "gatehouse is healthy at " << props.prefix << " (pid " << pid << ")\n";
    return 0;
  });
}

int cmd_config_check(const Options& opts) {
  return guarded([&] {
    auto props = load(opts);
    log::init(opts.cli_log_level, "stderr");
    for (const auto& warning : conf::admin_listen_warnings(props.admin_listen)) spdlog::warn("{}", warning);
    plugins::SeqAllocator seqs;
    plugins::SharedMemory memory;
    auto snapshot = proxy::build_snapshot(props, {1, seqs, memory});
    std::cout << "configuration at " << (opts.conf.empty() ? "<defaults>" : opts.conf) << " is valid";
    if (!snapshot->properties.declarative_config.empty())
      std::cout << " (" << snapshot->config.services.size() << " services, " << snapshot->config.routes.size()
                << " routes, " << snapshot->config.plugins.size() << " plugins)";
    std::cout << "\n";
    return 0;
  });
}

// The native plugins compiled in, for `gatehouse plugins`: which the `plugins` property enables.
nlohmann::json native_plugins_json(const conf::Properties& props) {
  const auto enabled = plugins::enabled_native_plugins(pluginserver::plugins_property(props.values));
  nlohmann::json list = nlohmann::json::array();
  for (const auto& spec : plugins::native_plugins()) {
    nlohmann::json phases = nlohmann::json::array();
    for (unsigned i = 0; i < core::kPhaseCount; ++i)
      if (spec.phases & core::bit(static_cast<core::Phase>(i)))
        phases.push_back(core::phase_name(static_cast<core::Phase>(i)));
    list.push_back({{"name", spec.name},
                    {"version", spec.version},
                    {"priority", spec.priority},
                    {"phases", phases},
                    {"enabled", std::find(enabled.begin(), enabled.end(), &spec) != enabled.end()}});
  }
  return list;
}

int cmd_plugins(const Options& opts) {
  return guarded([&] {
    auto props = load(opts);
    log::init(opts.cli_log_level, "stderr");
    if (!opts.running)
      return pluginserver::print_plugins(props.values, props.prefix, std::cout, opts.json,
                                         native_plugins_json(props));
    std::string body;
    int status = admin_get(props, "/plugin-servers", &body);
    if (status != 200) {
      std::cerr << "Error: cannot reach the running gateway's admin API (status " << status << ")\n";
      return 1;
    }
    auto document = nlohmann::json::parse(body);
    with_local_commands(document, props);
    std::cout << (opts.json ? document.dump(2) + "\n" : pluginserver::plugin_servers_text(document));
    return 0;
  });
}

}  // namespace gh::app

namespace gh::app {

namespace {

// What `gatehouse config init` writes: Kong's declarative format with every entity kind shown
// and commented out ("# "; prose is "## "), so the file loads as it is and the examples load
// once uncommented.
constexpr std::string_view kConfigTemplate =
    R"(## A declarative configuration for gatehouse (Kong's kong.yml format, DB-less).
## Load it with `declarative_config = /path/to/kong.yml` in kong.conf, check it with
## `gatehouse config parse kong.yml`, replace it at run time with POST /config on the Admin API.
## Every block below is an example: uncomment and adapt it.

_format_version: "3.0"
_transform: true

# services:
# - name: example-service
#   url: http://127.0.0.1:8080/
#   ## Routes nested under a service belong to it.
#   routes:
#   - name: example-route
#     paths:
#     - /example
#     strip_path: true
#   plugins:
#   ## A plugin served by a plugin server named in `pluginserver_names` and enabled in `plugins`.
#   - name: my-plugin
#     config: {}

# upstreams:
# - name: example-upstream
#   targets:
#   - target: 127.0.0.1:8081
#     weight: 100

# consumers:
# - username: example-user
#   custom_id: "1234"

# plugins:
# ## Global plugins run for every request.
# - name: my-plugin
#   config: {}
)";

}  // namespace

int cmd_check(const Options& opts) {
  return cmd_config_check(opts);
}

int cmd_config_parse(const std::string& file, const std::string& cli_log_level) {
  return guarded([&] {
    log::init(cli_log_level, "stderr");
    auto config = conf::load_declarative(file);
    std::cout << "parse successful: " << config.services.size() << " services, " << config.routes.size()
              << " routes, " << config.consumers.size() << " consumers, " << config.plugins.size()
              << " plugins, " << config.upstreams.size() << " upstreams, " << config.certificates.size()
              << " certificates\n";
    return 0;
  });
}

int cmd_config_init(const std::string& file) {
  return guarded([&] {
    const std::string path = file.empty() ? "kong.yml" : file;
    if (std::filesystem::exists(path)) {
      std::cerr << "Error: " << path << " already exists: not overwritten\n";
      return 1;
    }
    std::ofstream out(path);
    out << kConfigTemplate;
    if (!out.flush()) {
      std::cerr << "Error: cannot write " << path << "\n";
      return 1;
    }
    std::cout << "Created " << path << ", a declarative configuration template (gatehouse config parse "
              << path << " checks it)\n";
    return 0;
  });
}

int cmd_prepare(const Options& opts) {
  return guarded([&] {
    auto props = load(opts);
    for (const char* dir : {"", "logs", "pids"})
      std::filesystem::create_directories(std::filesystem::path(props.prefix) / dir);
    std::cout << "prefix prepared at " << props.prefix << "\n";
    return 0;
  });
}

int cmd_quit(const Options& opts, int wait_seconds, int timeout_seconds) {
  return guarded([&] {
    auto props = load(opts);
    pid_t pid = require_running(props);
    if (!pid) return 1;
    if (wait_seconds > 0) {
      std::cout << "waiting " << wait_seconds << " s before the graceful shutdown\n";
      std::this_thread::sleep_for(std::chrono::seconds(wait_seconds));
    }
    ::kill(pid, SIGQUIT);  // drains in-flight requests, as SIGTERM
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    while (process_running(pid) && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (process_running(pid)) {
      ::kill(pid, SIGKILL);
      std::cerr << "Error: gatehouse (pid " << pid << ") did not quit within " << timeout_seconds
                << " s: killed\n";
      return 1;
    }
    std::cout << "gatehouse stopped (gracefully)\n";
    return 0;
  });
}

int cmd_restart(const Options& opts) {
  int stopped = guarded([&] {
    auto props = load(opts);
    return running_pid(props) ? cmd_stop(opts) : 0;
  });
  if (stopped != 0) return stopped;
  return cmd_start(opts);
}

}  // namespace gh::app
