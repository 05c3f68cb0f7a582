#include "proxy/gateway.h"

#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <thread>

#include "common/log.h"
#include "common/systemd.h"
#include "conf/error.h"
#include "net/listener.h"

namespace gh::proxy {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto kDrainTimeout = 10s;  // Kong's nginx_main_worker_shutdown_timeout default
// After draining, how long shut-down idle connections get to end on their own (a TLS
// close_notify is bounded by its own, shorter timeout).
constexpr auto kCloseTimeout = 2s;

// nginx's time syntax for one value: a number with an optional unit (ms, s, m, h; none = s).
std::optional<std::chrono::milliseconds> parse_nginx_time(std::string_view text) {
  const size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  if (digits == 0 || digits > 9) return std::nullopt;
  const auto n = std::stoll(std::string(text.substr(0, digits)));
  const auto unit = text.substr(digits);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  return std::nullopt;
}

// How long draining may take: Kong's nginx_main_worker_shutdown_timeout (default 10s).
std::chrono::milliseconds drain_timeout(const conf::Properties& props) {
  auto it = props.values.find("nginx_main_worker_shutdown_timeout");
  if (it == props.values.end()) return kDrainTimeout;
  if (auto parsed = parse_nginx_time(it->second)) return *parsed;
  spdlog::warn("nginx_main_worker_shutdown_timeout = {} is not a time (e.g. 10s, 500ms): using 10s",
               it->second);
  return kDrainTimeout;
}

// Waits until `done()` or `until`, polling (shutdown only).
template <typename Done>
bool wait_until(Done done, std::chrono::steady_clock::time_point until) {
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}
// With nginx_events_worker_connections = auto (Kong: as many as the limit allows), a limit below
// this is still worth a warning: a gateway that runs out of descriptors stops accepting.
constexpr uint64_t kLowOpenFileLimit = 4096;

// Raises the open file limit as far as allowed, and warns when it is still below what the
// configured connections need: nginx_events_worker_connections per worker (a number; "auto",
// the default, adapts to the limit). Short of descriptors, accepting pauses (net::AcceptFailures).
void check_open_file_limit(const conf::Properties& props, int workers) {
  const uint64_t limit = net::raise_open_file_limit();
  if (limit == 0) return;
  std::string_view configured = "auto";
  if (auto it = props.values.find("nginx_events_worker_connections"); it != props.values.end())
    configured = it->second;
  uint64_t wanted = kLowOpenFileLimit;
  if (!configured.empty() && configured.size() < 10 &&
      configured.find_first_not_of("0123456789") == std::string_view::npos)
    wanted = std::stoull(std::string(configured)) * static_cast<uint64_t>(workers);
  if (limit < wanted)
    spdlog::warn(
        "the open file limit ({}) is low for {} worker(s) with nginx_events_worker_connections = {}: when "
        "descriptors run out, accepting pauses. Raise the hard limit (ulimit -Hn, systemd LimitNOFILE=)",
        limit, workers, configured);
}
}  // namespace

Gateway::Gateway(SnapshotLoader loader, std::shared_ptr<const Snapshot> initial,
                 std::unique_ptr<plugins::SeqAllocator> seqs, std::unique_ptr<plugins::SharedMemory> memory,
                 asio::io_context& control, plugins::PluginRuntime* plugins)
    : loader_(std::move(loader)),
      seqs_(std::move(seqs)),
      memory_(std::move(memory)),
      snapshot_(std::move(initial)),
      control_(control),
      plugins_(plugins) {
  const auto& props = snapshot_->properties;
  generation_ = snapshot_->generation;
  upstreams_.apply(snapshot_->config.upstreams);
  access_log_ = std::make_unique<AccessLog>(props.proxy_access_log, props.access_log_format);
  // Opened only when the gateway has stream listeners (the default path is the HTTP access log's).
  if (!props.stream_listen.empty())
    stream_access_log_ = stream::StreamAccessLog::open(props.proxy_stream_access_log);
}

Gateway::~Gateway() {
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  remove_pid_file();
}

void Gateway::start() {
  const auto& props = snapshot_->properties;
  // Signals are caught from here on, before any port accepts: a SIGTERM sent as soon as the
  // proxy port answers must drain, not kill the process. asio queues a signal that arrives
  // before run() starts waiting for it.
  signals_ = std::make_unique<asio::signal_set>(control_, SIGTERM, SIGQUIT, SIGINT);
  signals_->add(SIGHUP);
  signals_->add(SIGUSR1);
  std::filesystem::create_directories(props.prefix);
  std::filesystem::create_directories(std::filesystem::path(props.prefix) / "logs");
  const int n = std::max(1, props.worker_threads);
  check_open_file_limit(props, n);
  for (int i = 0; i < n; ++i) {
    auto worker = std::make_unique<Worker>(i, *this);
    worker->listen(props.proxy_listen);
    worker->listen_stream(props.stream_listen);
    workers_.push_back(std::move(worker));
  }
  for (auto& w : workers_) w->start();
  write_pid_file();
  std::string listens;
  for (const auto& l : props.proxy_listen) listens += (listens.empty() ? "" : ", ") + l.to_string();
  spdlog::info("gatehouse started: {} worker(s), proxy on {}, pid {}", n, listens, ::getpid());
  // The configuration is loaded, the plugin servers answer (started before) and every port accepts.
  systemd::notify("READY=1\nSTATUS=serving, configuration generation " + std::to_string(generation_));
}

void Gateway::write_pid_file() {
  pid_file_ = (std::filesystem::path(snapshot_->properties.prefix) / "pids" / "gatehouse.pid").string();
  std::filesystem::create_directories(std::filesystem::path(pid_file_).parent_path());
  std::ofstream(pid_file_) << ::getpid() << "\n";
  reload_file_ = reload_result_file(snapshot_->properties.prefix);
  std::error_code ec;
  std::filesystem::remove(reload_file_, ec);  // a previous run's
}

void Gateway::remove_pid_file() {
  if (pid_file_.empty()) return;
  std::error_code ec;
  std::filesystem::remove(pid_file_, ec);
  std::filesystem::remove(reload_file_, ec);
  pid_file_.clear();
}

bool Gateway::reload() {
  std::lock_guard lock(reload_mutex_);
  ++reload_attempts_;
  auto error = install(loader_, "reload");
  write_reload_result(error.empty(), error);
  return error.empty();
}

std::string Gateway::apply(const SnapshotLoader& build) {
  std::lock_guard lock(reload_mutex_);
  return install(build, "POST /config");
}

std::string Gateway::install(const SnapshotLoader& build, const char* what) {
  std::shared_ptr<const Snapshot> fresh;
  std::string error;
  try {
    fresh = build(SnapshotLineage{generation_ + 1, *seqs_, *memory_});
  } catch (const std::bad_alloc&) {
    // The loader's memory is gone with its frames; the serving snapshot was never touched.
    error = "out of memory while loading the new configuration";
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!fresh) {
    spdlog::error("{} refused, the previous configuration keeps serving: {}", what, error);
    return error;
  }
  generation_ = fresh->generation;
  upstreams_.apply(fresh->config.upstreams);  // before the snapshot naming them serves
  std::atomic_store(&snapshot_, fresh);
  snapshot_swapped();
  spdlog::info("configuration reloaded (generation {}) by {}", generation_, what);
  for (auto& hook : on_reload) {
    // The new snapshot serves already: a failing hook is reported, not a refused reload.
    try {
      hook(*fresh);
    } catch (const std::exception& e) {
      spdlog::error("after reload (generation {}): {}", generation_, e.what());
    }
  }
  return "";
}

// `gatehouse reload` waits for this file to name its attempt (reload_result_file() in gateway.h).
void Gateway::write_reload_result(bool ok, const std::string& error) {
  if (reload_file_.empty()) return;
  const std::string& path = reload_file_;
  const std::string temporary = path + ".tmp";
  nlohmann::json result = {{"pid", ::getpid()},
                           {"attempt", reload_attempts_},
                           {"ok", ok},
                           {"generation", generation_},
                           {"error", error}};
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!out) return;
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);  // readers see the old or the new result, whole
}

std::string reload_result_file(const std::string& prefix) {
  return (std::filesystem::path(prefix) / "pids" / "gatehouse.reload").string();
}

void Gateway::shutdown() {
  if (draining_.exchange(true)) return;
  systemd::notify("STOPPING=1\nSTATUS=draining in-flight requests");
  spdlog::info("gatehouse stopping: draining in-flight requests");
  for (auto& w : workers_) w->stop_accepting();
  // Requests in flight and the log phases of those already answered (nginx's worker waits for
  // the log phase as well), bounded by the drain timeout.
  auto requests = [this] {
    int n = 0;
    for (auto& w : workers_) n += w->active_requests.load();
    return n;
  };
  auto log_phases = [this] {
    int n = 0;
    for (auto& w : workers_) n += w->active_log_phases.load();
    return n;
  };
  const auto until = std::chrono::steady_clock::now() + drain_timeout(snapshot()->properties);
  auto busy = [&] {
    const int in_flight = requests();  // first: a request counts its log phase before it ends
    return in_flight + log_phases() > 0;
  };
  if (!wait_until([&] { return !busy(); }, until))
    spdlog::warn("{} request(s) and {} log phase(s) still running after the drain timeout", requests(),
                 log_phases());
  // What is left are idle keep-alive connections (or requests past the timeout): shut them down so
  // that their coroutines end on their own rather than being destroyed suspended.
  for (auto& w : workers_) w->close_connections();
  auto open = [this] {
    int n = 0;
    for (auto& w : workers_) n += w->open_http_connections();
    return n;
  };
  wait_until([&] { return open() == 0; }, std::chrono::steady_clock::now() + kCloseTimeout);
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  for (auto& hook : on_stop) hook();
  if (plugins_) plugins_->stop();
  remove_pid_file();
  spdlog::info("gatehouse stopped");
}

void Gateway::await_signals() {
  signals_->async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      // systemd's unit state follows the reload; a refused one leaves the old configuration serving.
      systemd::notify("RELOADING=1");
      const bool ok = reload();
      systemd::notify(std::string("READY=1\nSTATUS=serving, configuration generation ") +
                      std::to_string(snapshot()->generation) + (ok ? "" : " (last reload refused)"));
      await_signals();
      return;
    }
    if (signo == SIGUSR1) {
      access_log_->reopen();
      if (stream_access_log_) stream_access_log_->reopen();
      for (auto& hook : on_reopen_logs) hook();
      spdlog::info("SIGUSR1: reopening log files");  // after the access logs were (a test waits for it)
      await_signals();
      return;
    }
    // Drain on another thread so the control loop (plugin-server supervision) keeps running.
    if (shutdown_thread_.joinable()) return;
    shutdown_thread_ = std::thread([this] { shutdown(); });
    shutdown_started_.set_value();
  });
}

int Gateway::run() {
  asio::post(control_, [this] { await_signals(); });
  shutdown_started_.get_future().wait();
  shutdown_thread_.join();  // until shutdown() has drained and stopped everything
  asio::post(control_, [this] { signals_.reset(); });
  return 0;
}

}  // namespace gh::proxy
