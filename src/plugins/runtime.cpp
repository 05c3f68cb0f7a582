#include "plugins/runtime.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <set>

#include "common/log.h"
#include "conf/error.h"
#include "plugins/bridge.h"
#include "pluginserver/config.h"
#include "pluginserver/gatehouse/client.h"
#include "pluginserver/msgpack/connection.h"
#include "pluginserver/registry.h"

namespace gh::plugins {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
// While an older snapshot is still held by a request, how often to look again.
constexpr auto kRetireCheckInterval = 200ms;
}  // namespace

namespace {

// "servers: py (py-hello, py-image), js (none)": where a plugin would have to come from.
std::string what_servers_report(const pluginserver::Registry& registry) {
  if (registry.servers().empty())
    return "no plugin server is configured (pluginserver_names and pluginserver_<name>_start_cmd / "
           "_query_cmd)";
  std::string out = "plugin servers and what they report: ";
  for (size_t i = 0; i < registry.servers().size(); ++i) {
    const auto& server = registry.servers()[i];
    std::string names;
    for (const auto* plugin : registry.plugins_of(server.name))
      names += (names.empty() ? "" : ", ") + plugin->name;
    out += (i ? "; " : "") + server.name + " (" + (names.empty() ? "none" : names) + ")";
  }
  return out;
}

// Kong's two refusals, each saying what is missing and where it would come from: a name in
// `plugins` that no server reports, and a kong.yml plugin whose name is not in `plugins` (even
// when a server reports it: what the operator did not enable does not run).
std::string enablement_problems(const pluginserver::Registry& registry,
                                const std::vector<std::string>& enabled,
                                const std::vector<const NativePluginSpec*>& native,
                                const std::vector<conf::Plugin>& plugins) {
  std::string problems;
  for (const auto& name : enabled)
    if (!registry.find(name))
      problems += "\n  " + name + " plugin is enabled but not installed: no plugin server reports it; " +
                  what_servers_report(registry);
  std::set<std::string> reported;
  for (const auto& p : plugins) {
    if (std::find(enabled.begin(), enabled.end(), p.name) != enabled.end() || !reported.insert(p.name).second)
      continue;
    if (std::any_of(native.begin(), native.end(), [&p](const auto* spec) { return spec->name == p.name; }))
      continue;
    if ((p.name == "pre-function" || p.name == "post-function") && !registry.find(p.name)) {
      problems += "\n  plugin '" + p.name + "' (id " + p.id + ") runs Lua code given in its configuration, " +
                  "which gatehouse cannot run (it has no Lua): write the same logic as an external plugin " +
                  "(Go, Python, JavaScript or the C++ PDK, docs/plugins.md), enable it in 'plugins' and " +
                  "configure it here in place of '" + p.name + "'";
      continue;
    }
    problems += "\n  plugin '" + p.name + "' (id " + p.id +
                ") not enabled; add it to the 'plugins' configuration property";
    if (const auto* provided = registry.find(p.name))
      problems += " (plugin server '" + provided->server + "' provides it)";
    else
      problems += ", and configure a plugin server that provides it: " + what_servers_report(registry);
  }
  return problems;
}

}  // namespace

std::shared_ptr<const PluginSet> load_plugins(const conf::Properties& properties, conf::Declarative& config,
                                              SeqAllocator& seqs, SharedMemory& memory) {
  std::vector<pluginserver::ServerConfig> servers;
  std::vector<std::string> enabled;  // external: the `plugins` names no native plugin answers to
  std::vector<const NativePluginSpec*> native;
  try {
    servers = pluginserver::servers_from_properties(properties.values, properties.prefix);
    native = enabled_native_plugins(pluginserver::plugins_property(properties.values));
    for (auto& name : pluginserver::enabled_plugins(properties.values))
      if (!find_native_plugin(name)) enabled.push_back(std::move(name));
  } catch (const std::exception& e) {
    throw conf::ConfigError(properties.source_file + ": " + e.what());
  }
  memory.dictionaries.configure(properties);  // proxy-cache's shared dictionaries
  auto registry = std::make_shared<pluginserver::Registry>();
  if (!servers.empty() || !enabled.empty()) {
    try {
      *registry = pluginserver::query_servers(servers, enabled);
    } catch (const std::exception& e) {
      throw conf::ConfigError(e.what());
    }
  }
  std::string problems = enablement_problems(*registry, enabled, native, config.plugins);
  if (problems.empty()) {
    // A native plugin's schema first: it answers to its name even when a server reports it too.
    auto schema_of = [&](std::string_view name) -> const nlohmann::json* {
      for (const auto* spec : native)
        if (spec->name == name) return &spec->schema;
      const auto* info = registry->find(name);
      return info ? &info->schema : nullptr;
    };
    for (const auto& error : pluginserver::validate_plugins(schema_of, config.plugins))
      problems += "\n  " + error;
  }
  if (!problems.empty()) throw conf::ConfigError("invalid plugin configuration:" + problems);
  try {
    return std::make_shared<PluginSet>(config, registry, seqs, native, memory);
  } catch (const std::exception& e) {  // a native plugin refused its config
    throw conf::ConfigError(std::string("invalid plugin configuration:\n  ") + e.what());
  }
}

// Shared between the runtime and the coroutines it starts on the control loop (they may outlive
// it by a moment during shutdown: `stopped` tells them the cache is gone).
struct PluginRuntime::Retirement {
  struct Server {
    pluginserver::ServerConfig config;
    std::string protocol;
  };
  using Unused = std::map<std::pair<std::string, int64_t>, int64_t>;  // (server, seq) → instance id

  explicit Retirement(asio::io_context& io) : timer(io) {}

  std::mutex mutex;  // guards everything but `timer` and `bridges` (control loop only)
  bool stopped = false;
  InstanceCache* cache = nullptr;
  std::vector<std::weak_ptr<const PluginSet>> sets;  // every snapshot tracked that may still be alive
  std::map<std::string, Server> servers;             // how to reach each server
  std::map<std::pair<std::string, int64_t>, std::string> configs;  // (server, seq) tracked → plugin name
  asio::steady_timer timer;
  std::map<std::string, BridgeSlot> bridges;
  ServerRecords records;

  // Control loop: closes what no live snapshot uses; looks again later while old ones live on.
  static void sweep(const std::shared_ptr<Retirement>& self);
  static asio::awaitable<void> close(std::shared_ptr<Retirement> self, Unused unused);
  std::shared_ptr<Bridge> bridge_for(const std::string& server);
};

void PluginRuntime::Retirement::sweep(const std::shared_ptr<Retirement>& self) {
  Unused unused;
  bool older_alive = false;
  {
    std::lock_guard lock(self->mutex);
    if (self->stopped) return;
    // Retired: configs of tracked snapshots that no live snapshot has. Only those: an instance
    // started for a snapshot that is not tracked yet (a reload in progress) is not touched.
    std::set<std::pair<std::string, int64_t>> retired;
    for (const auto& [key, name] : self->configs) retired.insert(key);
    std::erase_if(self->sets, [](const auto& weak) { return weak.expired(); });
    for (const auto& weak : self->sets) {
      if (auto set = weak.lock())
        for (const auto& plugin : set->all())
          if (plugin->server) retired.erase({plugin->server->name, plugin->seq});
    }
    older_alive = self->sets.size() > 1;
    unused = self->cache->take(retired);
    for (const auto& key : retired)
      if (!unused.count(key)) self->configs.erase(key);  // never started: nothing to close
  }
  if (!unused.empty())
    asio::co_spawn(self->timer.get_executor(), close(self, std::move(unused)), asio::detached);
  if (!older_alive) return;
  self->timer.expires_after(kRetireCheckInterval);
  self->timer.async_wait([self](const boost::system::error_code& ec) {
    if (!ec) sweep(self);
  });
}

// As the latest tracked snapshot configures the server (a reload may have changed its timeout).
std::shared_ptr<Bridge> PluginRuntime::Retirement::bridge_for(const std::string& server) {
  Server how;
  {
    std::lock_guard lock(mutex);
    auto it = servers.find(server);
    if (it == servers.end()) return nullptr;
    how = it->second;
  }
  return bridges[server].get(timer.get_executor(), how.config, how.protocol, records);
}

asio::awaitable<void> PluginRuntime::Retirement::close(std::shared_ptr<Retirement> self, Unused unused) {
  for (const auto& [key, id] : unused) {
    const auto& [server, seq] = key;
    std::string plugin;
    {
      std::lock_guard lock(self->mutex);
      if (self->stopped) co_return;
      plugin = self->configs[key];
      self->configs.erase(key);
    }
    auto bridge = self->bridge_for(server);
    if (!bridge) continue;
    std::string failure;
    try {
      if (auto error = co_await bridge->close_instance(id)) failure = std::move(error->message);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    // A server restarted since then no longer has the instance: nothing is lost.
    if (failure.empty())
      spdlog::info("closed instance {} of plugin '{}' (seq {}) on server '{}': its config was superseded", id,
                   plugin, seq, server);
    else
      spdlog::info("could not close instance {} of plugin '{}' (seq {}) on server '{}': {}", id, plugin, seq,
                   server, failure);
  }
}

PluginRuntime::SupervisionThread::SupervisionThread()
    : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

PluginRuntime::SupervisionThread::~SupervisionThread() {
  work_.reset();
  io_.stop();
  thread_.join();
}

PluginRuntime::PluginRuntime(boost::asio::io_context& control)
    : control_(control),
      server_records_{std::make_shared<pluginserver::gatehouse::PrefetchPlans>(),
                      std::make_shared<pluginserver::msgpack::RestartCounts>()},
      retirement_(std::make_shared<Retirement>(control)) {
  retirement_->cache = &instances_;
  retirement_->records = server_records_;
}

PluginRuntime::~PluginRuntime() {
  stop();
  std::lock_guard lock(retirement_->mutex);
  retirement_->stopped = true;  // the cache goes with this object
}

void PluginRuntime::track(std::shared_ptr<const PluginSet> plugins) {
  if (!plugins) return;
  {
    std::lock_guard lock(retirement_->mutex);
    retirement_->sets.push_back(plugins);
    for (const auto& p : plugins->all()) {
      if (!p->server || !p->info) continue;  // not an external plugin
      retirement_->servers[p->server->name] = {*p->server, p->info->protocol};
      retirement_->configs[{p->server->name, p->seq}] = p->name;
    }
  }
  asio::post(control_, [r = retirement_] { Retirement::sweep(r); });
}

void PluginRuntime::start(std::vector<pluginserver::ServerConfig> servers) {
  std::chrono::milliseconds ready_timeout{0};
  for (const auto& s : servers) ready_timeout = std::max(ready_timeout, s.ready_timeout);
  supervisor_ = std::make_unique<pluginserver::Supervisor>(supervision_.io(), std::move(servers));
  // A restarted server has none of its earlier instances: the cache must not hand out their ids,
  // and what Gatehouse:1 prefetched for them is void (its new instances declare and report again).
  supervisor_->on_process_started(
      [cache = &instances_, records = server_records_](const pluginserver::ServerConfig& server) {
        cache->forget_server(server.name);
        records.plans->of(server.socket)->clear();
        records.restarts->restarted(server.socket);  // pooled connections lead to the old process
      });
  supervisor_->start();
  if (!supervisor_->wait_ready(ready_timeout))
    throw std::runtime_error(
        "plugin servers did not become ready (their sockets never accepted a connection); "
        "see the log above");
}

void PluginRuntime::apply(std::vector<pluginserver::ServerConfig> servers) {
  if (supervisor_) supervisor_->apply(std::move(servers));
}

void PluginRuntime::stop() {
  if (supervisor_) supervisor_->stop();
}

bool PluginRuntime::ready(std::string_view server) const {
  return !supervisor_ || supervisor_->is_ready(server);
}

asio::awaitable<bool> PluginRuntime::await_ready(std::string_view server,
                                                 std::chrono::steady_clock::time_point deadline) {
  if (!supervisor_) co_return true;
  co_return co_await supervisor_->await_ready(server, deadline);
}

void PluginRuntime::connect_refused(std::string_view server) {
  if (supervisor_) supervisor_->connect_refused(server);
}

void PluginRuntime::report_fault(std::string_view server, pluginserver::Supervisor::Fault fault,
                                 std::string_view detail) {
  if (supervisor_) supervisor_->report_fault(server, fault, detail);
}

nlohmann::json PluginRuntime::status() const {
  return supervisor_ ? supervisor_->status() : nlohmann::json::array();
}

}  // namespace gh::plugins
