#include "plugins/runner.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "http/kong_responses.h"
#include "pdk/plugin_call.h"
#include "pdk/request_pdk.h"

namespace gh::plugins {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr int kEventAttempts = 2;  // the first try and one retry after restarting a lost instance

std::string_view failure_name(Failure failure) {
  switch (failure) {
    case Failure::timeout:
      return "timeout";
    case Failure::protocol:
      return "protocol error";
    case Failure::unavailable:
      return "unavailable";
    default:
      return "error";
  }
}
// The per-event deadline (docs/plugin-servers.md): the server's timeout bounds each round trip
// and the whole event alike.
std::chrono::steady_clock::time_point event_deadline(const pluginserver::ServerConfig& server) {
  if (server.timeout.count() <= 0) return std::chrono::steady_clock::time_point::max();
  return std::chrono::steady_clock::now() + server.timeout;
}
}  // namespace

// The bridge as the plugin's snapshot configures its server: a reload that changes the timeout
// (or socket, or protocol) gets a new bridge; events still running keep the old one alive.
std::shared_ptr<Bridge> PhaseRunner::bridge_for(const ConfiguredPlugin& plugin) {
  return bridges_[plugin.server->name].get(executor_, *plugin.server, plugin.info->protocol);
}

// The running instance for this plugin config, started on first use. Another worker may be
// starting it at the same moment: wait for it (bounded by the server's timeout).
asio::awaitable<int64_t> PhaseRunner::instance_for(Bridge& bridge, const ConfiguredPlugin& plugin) {
  auto& cache = runtime_.instances();
  const auto& server = plugin.server->name;
  const auto give_up = std::chrono::steady_clock::now() + plugin.server->timeout;
  while (true) {
    int64_t id = 0;
    switch (cache.lookup(server, plugin.seq, id)) {
      case InstanceCache::Claim::started:
        co_return id;
      case InstanceCache::Claim::claimed:
        try {
          id = co_await bridge.start_instance(plugin.name, plugin.config_json);
        } catch (...) {
          cache.release(server, plugin.seq);
          throw;
        }
        cache.store(server, plugin.seq, id);
        spdlog::debug("started instance {} of plugin '{}' (seq {}) on server '{}'", id, plugin.name,
                      plugin.seq, server);
        co_return id;
      case InstanceCache::Claim::busy: {
        if (std::chrono::steady_clock::now() > give_up)
          throw std::runtime_error("could not claim an instance of plugin '" + plugin.name + "'");
        // Only here: a timer per event would cost a timer-service lookup on every request.
        asio::steady_timer timer(executor_, 2ms);
        co_await timer.async_wait(asio::use_awaitable);
        break;
      }
    }
  }
}

asio::awaitable<void> PhaseRunner::run(proxy::RequestContext& ctx, Phase phase,
                                       const std::vector<const ConfiguredPlugin*>& plugins) {
  static_assert(std::tuple_size_v<decltype(ctx.phase_times)> > static_cast<unsigned>(Phase::log));
  auto& time = ctx.phase_times[static_cast<unsigned>(phase)];
  time.start = proxy::Clock::now();
  co_await run_plugins(ctx, phase, plugins);
  time.end = proxy::Clock::now();
}

asio::awaitable<void> PhaseRunner::run(proxy::RequestContext& ctx, Phase phase, Collector& plugins) {
  auto& time = ctx.phase_times[static_cast<unsigned>(phase)];
  time.start = proxy::Clock::now();
  while (const auto* plugin = plugins.next()) {
    const bool go_on = co_await run_plugin(ctx, phase, *plugin);  // a local: GCC PR 106188
    if (!go_on || ctx.response.produced_by_gateway) break;
  }
  time.end = proxy::Clock::now();
}

asio::awaitable<void> PhaseRunner::run_plugins(proxy::RequestContext& ctx, Phase phase,
                                               const std::vector<const ConfiguredPlugin*>& plugins) {
  for (const auto* plugin : plugins) {
    // Through a local: GCC 12 miscompiles `if (!co_await f()) co_return;` (see stream_session.cpp).
    const bool go_on = co_await run_plugin(ctx, phase, *plugin);
    if (!go_on) co_return;
    if (ctx.response.produced_by_gateway && phase != Phase::log) co_return;
  }
}

asio::awaitable<bool> PhaseRunner::run_plugin(proxy::RequestContext& ctx, Phase phase,
                                              const ConfiguredPlugin& plugin) {
  ctx.phase = std::string(phase_name(phase));
  const auto bridge = bridge_for(plugin);
  if (!bridge) {
    fail(ctx, phase, plugin, Failure::error, "unsupported protocol '" + plugin.info->protocol + "'");
    co_return !ctx.response.produced_by_gateway;
  }
  if (!runtime_.ready(plugin.server->name)) {
    fail(ctx, phase, plugin, Failure::unavailable,
         "plugin server '" + plugin.server->name + "' is not running");
    co_return !ctx.response.produced_by_gateway;
  }
  pdk::PluginCall call{plugin.name, plugin.entity->id, ctx.phase, &plugin.entity->config};
  for (int attempt = 1; attempt <= kEventAttempts; ++attempt) {
    int64_t instance = -1;
    Failure failure = Failure::error;
    std::string why;
    bool overran = false;
    try {
      instance = co_await instance_for(*bridge, plugin);
      pdk::RequestPdk pdk(ctx, call, event_deadline(*plugin.server));
      co_await bridge->handle_event(instance, ctx.phase, pdk);
      if (!pdk.overran()) co_return true;
      overran = true;
    } catch (const std::exception& e) {
      failure = classify(e);
      why = e.what();
    }
    if (overran) {
      // Every call was answered in time, the plugin just kept calling: the server is not hung,
      // so it is not restarted; the request gets the timeout's failure policy.
      fail(ctx, phase, plugin, Failure::timeout,
           fmt::format("the event ran past its deadline ({} ms, {}_timeout)", plugin.server->timeout.count(),
                       pluginserver::property_prefix(plugin.server->name)));
      co_return !ctx.response.produced_by_gateway;
    }
    if (failure == Failure::instance_lost && attempt < kEventAttempts) {
      spdlog::info("plugin '{}': instance {} lost ({}); starting a new one and retrying", plugin.name,
                   instance, why);
      if (instance >= 0) runtime_.instances().forget(plugin.server->name, plugin.seq, instance);
      continue;
    }
    // A hung server, or one whose stream is out of step (junk, oversized or truncated frames):
    // killing it is the only way back to a known state; the supervisor restarts it.
    if (failure == Failure::timeout || failure == Failure::protocol) {
      using Fault = pluginserver::Supervisor::Fault;
      runtime_.report_fault(plugin.server->name,
                            failure == Failure::timeout ? Fault::timeout : Fault::protocol_error, why);
    }
    fail(ctx, phase, plugin, failure, why);
    co_return !ctx.response.produced_by_gateway;
  }
  co_return true;
}

void PhaseRunner::fail(proxy::RequestContext& ctx, Phase phase, const ConfiguredPlugin& plugin,
                       Failure failure, const std::string& why) {
  const bool fail_open = plugin.server && plugin.server->on_error == "fail_open";
  log_failure(phase, plugin, failure, why, fail_open);
  if (fail_open || phase == Phase::log) return;
  const int status = failure == Failure::timeout ? 504 : 500;
  ctx.response = {};
  ctx.response.status = status;
  ctx.response.produced_by_gateway = true;
  ctx.response.source = "error";
  ctx.response.headers.set("Content-Type", "application/json; charset=utf-8");
  ctx.response.body = http::json_message_body(status == 504 ? "The plugin server is timing out"
                                                            : http::kong_default_message(500));
}

void PhaseRunner::log_failure(Phase phase, const ConfiguredPlugin& plugin, Failure failure,
                              const std::string& why, bool fail_open) {
  constexpr auto kInterval = std::chrono::seconds(1);
  auto key = fmt::format("{}\t{}\t{}", plugin.name, phase_name(phase), failure_name(failure));
  auto& throttle = failure_logs_.try_emplace(std::move(key), kInterval).first->second;
  uint64_t held_back = 0;
  if (!throttle.allow(held_back)) return;
  std::string more;
  if (held_back > 0)
    more =
        fmt::format(" ({} more such failures in this worker since the last line were not logged)", held_back);
  spdlog::error("plugin '{}' failed in phase {} ({}): {}{}{}", plugin.name, phase_name(phase),
                failure_name(failure), why, fail_open ? " — skipped (fail_open)" : "", more);
}

}  // namespace gh::plugins
