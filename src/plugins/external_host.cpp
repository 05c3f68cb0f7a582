#include "plugins/external_host.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>

#include "common/log.h"
#include "metrics/metrics.h"
#include "pdk/plugin_call.h"
#include "pdk/request_pdk.h"

namespace gh::plugins {

namespace asio = boost::asio;

namespace {
constexpr int kEventAttempts = 2;  // the first try and one retry after restarting a lost instance

// The per-event deadline (docs/plugin-servers.md): the server's timeout bounds each round trip
// and the whole event alike.
std::chrono::steady_clock::time_point event_deadline(const pluginserver::ServerConfig& server) {
  if (server.timeout.count() <= 0) return std::chrono::steady_clock::time_point::max();
  return std::chrono::steady_clock::now() + server.timeout;
}

// How long an event waits for its server to become ready (a restart after a crash or a kill): its
// timeout, or with no timeout configured the time the server is given to open its socket.
std::chrono::milliseconds hold_limit(const pluginserver::ServerConfig& server) {
  return server.timeout.count() > 0 ? server.timeout : server.ready_timeout;
}
}  // namespace

// The bridge as the plugin's snapshot configures its server: a reload that changes the timeout
// (or socket, or protocol) gets a new bridge; events still running keep the old one alive.
std::shared_ptr<Bridge> ExternalHost::bridge_for(const ConfiguredPlugin& plugin) {
  return bridges_[plugin.server->name].get(executor_, *plugin.server, plugin.info->protocol,
                                           runtime_->server_records());
}

// The running instance for this plugin config, started on first use: this worker's copy first
// (no lock), then the shared cache. Another worker may be starting it at the same moment: wait
// until it is stored or released (woken by that worker; bounded by the server's timeout).
asio::awaitable<Started> ExternalHost::instance_for(Bridge& bridge, const ConfiguredPlugin& plugin) {
  auto& cache = runtime_->instances();
  if (auto id = known_.find(cache, plugin.seq)) co_return Started{*id, std::nullopt};
  const auto& server = plugin.server->name;
  const auto give_up = std::chrono::steady_clock::now() + plugin.server->timeout;
  while (true) {
    const uint64_t generation = cache.generation();
    int64_t id = 0;
    auto timer = std::make_shared<asio::steady_timer>(executor_, give_up);
    auto wake = [timer = std::weak_ptr(timer)] {  // from the starting worker's thread
      if (auto t = timer.lock()) asio::post(t->get_executor(), [t] { t->cancel(); });
    };
    switch (cache.lookup(server, plugin.seq, id, wake)) {
      case InstanceCache::Claim::started:
        known_.remember(plugin.seq, id, generation);
        co_return Started{id, std::nullopt};
      case InstanceCache::Claim::claimed: {
        Started started;
        try {
          started = co_await bridge.start_instance(plugin.name, plugin.config_json);
        } catch (...) {
          cache.release(server, plugin.seq);
          throw;
        }
        if (started.error) {
          cache.release(server, plugin.seq);
          co_return started;
        }
        cache.store(server, plugin.seq, started.id);
        known_.remember(plugin.seq, started.id, generation);
        spdlog::debug("started instance {} of plugin '{}' (seq {}) on server '{}'", started.id, plugin.name,
                      plugin.seq, server);
        co_return started;
      }
      case InstanceCache::Claim::busy: {
        if (std::chrono::steady_clock::now() > give_up)
          throw std::runtime_error("could not claim an instance of plugin '" + plugin.name + "'");
        co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));  // woken, or given up
        break;
      }
    }
  }
}

namespace {

std::string_view failure_kind(Failure failure) {
  switch (failure) {
    case Failure::instance_lost:
      return "instance_lost";
    case Failure::timeout:
      return "timeout";
    case Failure::unavailable:
      return "unavailable";
    case Failure::protocol:
      return "protocol";
    case Failure::error:
      break;
  }
  return "error";
}

}  // namespace

ExternalHost::ExternalHost(asio::any_io_executor ex, PluginRuntime* runtime, metrics::Registry& metrics)
    : executor_(ex), runtime_(runtime), families_(event_families(metrics)), tallies_(metrics) {}

ExternalHost::EventFamilies ExternalHost::event_families(metrics::Registry& r) {
  return EventFamilies{
      r.counter("gatehouse_plugin_events_total", "Events run by external plugins", {"plugin", "phase"}),
      r.counter("gatehouse_plugin_failures_total",
                "Failed events of external plugins by kind (timeout, protocol, unavailable, instance_lost, "
                "error)",
                {"plugin", "phase", "kind"}),
      r.histogram("gatehouse_plugin_event_duration_ms",
                  "Time an external plugin's event took, in milliseconds", {"plugin", "phase"},
                  {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}),
      r.counter("gatehouse_plugin_pdk_calls_total", "PDK calls made by external plugins",
                {"plugin", "phase"}),
      r.counter("gatehouse_plugin_round_trips_total",
                "Round trips to plugin servers (the event and every answered PDK call)", {"plugin", "phase"}),
  };
}

asio::awaitable<Verdict> ExternalHost::run(core::RequestContext& ctx, core::Phase phase,
                                           const ConfiguredPlugin& plugin) {
  const auto start = std::chrono::steady_clock::now();
  EventStats stats;
  Verdict verdict = co_await run_event(ctx, phase, plugin, stats);
  const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  auto& f = families_;
  const std::array<std::string_view, 2> labels{plugin.name, core::phase_name(phase)};
  f.events.add(labels);
  f.duration.observe(labels, took.count());
  if (stats.pdk_calls) f.pdk_calls.add(labels, stats.pdk_calls);
  if (stats.round_trips) f.round_trips.add(labels, stats.round_trips);
  if (verdict.kind == Verdict::Kind::failed)
    f.failures.add({labels[0], labels[1], failure_kind(verdict.failure)});
  co_return verdict;
}

asio::awaitable<Verdict> ExternalHost::run_event(core::RequestContext& ctx, core::Phase phase,
                                                 const ConfiguredPlugin& plugin, EventStats& stats) {
  if (!runtime_) co_return Verdict::failed(Failure::unavailable, "no plugin server is configured");
  const auto bridge = bridge_for(plugin);
  if (!bridge)
    co_return Verdict::failed(Failure::error, "unsupported protocol '" + plugin.info->protocol + "'");
  const auto& server = *plugin.server;
  const auto hold_until = std::chrono::steady_clock::now() + hold_limit(server);
  pdk::PluginCall call{plugin.name, plugin.entity->id, phase, &plugin.entity->config};
  // Until the event has reached a server, a (re)starting server is waited for. An event in flight
  // when its server died fails at once, as in Kong: it may have run in part.
  bool may_hold = true;
  bool refused_before = false;
  for (int attempt = 1; attempt <= kEventAttempts; ++attempt) {
    if (!runtime_->ready(server.name)) {
      if (!may_hold)
        co_return Verdict::failed(Failure::unavailable, "plugin server '" + server.name + "' is not running");
      const bool ready = co_await runtime_->await_ready(server.name, hold_until);  // GCC PR 106188
      if (!ready)
        co_return Verdict::failed(Failure::unavailable,
                                  fmt::format("plugin server '{}' is not running (not ready within {} ms)",
                                              server.name, hold_limit(server).count()));
    }
    int64_t instance = -1;
    Failure failure = Failure::error;
    std::string why;
    try {
      Started started = co_await instance_for(*bridge, plugin);
      if (started.error) {
        failure = failure_of(started.error->kind);
        why = std::move(started.error->message);
      } else {
        instance = started.id;
        pdk::RequestPdk pdk(ctx, call, event_deadline(*plugin.server), &tallies_);
        stats = co_await bridge->handle_event(instance, core::phase_name(phase), pdk);
        if (stats.error) {
          failure = failure_of(stats.error->kind);
          why = std::move(stats.error->message);
        } else if (pdk.overran()) {
          // Every call was answered in time, the plugin just kept calling: the server is not hung,
          // so it is not restarted; the request gets the timeout's failure policy.
          co_return Verdict::failed(Failure::timeout,
                                    fmt::format("the event ran past its deadline ({} ms, {}_timeout)",
                                                plugin.server->timeout.count(),
                                                pluginserver::property_prefix(plugin.server->name)));
        } else {
          co_return stats.terminated || pdk.exited() ? Verdict::exited() : Verdict::proceed();
        }
      }
    } catch (const std::exception& e) {  // not the wire's: a PDK handler's or a bug's, never retried
      failure = Failure::error;
      why = e.what();
    }
    // Refused: the event never reached a server; it died a moment ago, before the supervisor
    // heard of it. Once (a live server that refuses is not waited for again): hold and retry.
    if (failure == Failure::unavailable && may_hold && !refused_before) {
      refused_before = true;
      runtime_->connect_refused(server.name);
      --attempt;
      continue;
    }
    if (failure == Failure::instance_lost && attempt < kEventAttempts) {
      spdlog::info("plugin '{}': instance {} lost ({}); starting a new one and retrying", plugin.name,
                   instance, why);
      if (instance >= 0) runtime_->instances().forget(plugin.server->name, plugin.seq, instance);
      may_hold = false;
      continue;
    }
    // A hung server, or one whose stream is out of step (junk, oversized or truncated frames):
    // killing it is the only way back to a known state; the supervisor restarts it.
    if (failure == Failure::timeout || failure == Failure::protocol) {
      using Fault = pluginserver::Supervisor::Fault;
      runtime_->report_fault(plugin.server->name,
                             failure == Failure::timeout ? Fault::timeout : Fault::protocol_error, why);
    }
    co_return Verdict::failed(failure, std::move(why));
  }
  co_return Verdict::failed(Failure::instance_lost, "the instance was lost twice");
}

}  // namespace gh::plugins
