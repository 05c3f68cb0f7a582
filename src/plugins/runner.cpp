#include "plugins/runner.h"

#include "common/log.h"
#include "http/kong_responses.h"

namespace gh::plugins {

namespace asio = boost::asio;

namespace {
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

pluginserver::OnError policy_of(const ConfiguredPlugin& plugin) {
  return plugin.server ? plugin.server->on_error : pluginserver::OnError::fail_closed;
}
}  // namespace

std::optional<PhaseEnd> PhaseRunner::run_now(core::RequestContext& ctx, core::Phase phase,
                                             PhasePlugins& plugins) {
  auto& time = ctx.phase_times[static_cast<unsigned>(phase)];
  time.start = core::Clock::now();
  while (const ConfiguredPlugin* plugin = plugins.next()) {
    ctx.phase = phase;
    std::optional<Verdict> verdict =
        plugin->is_native() ? native_.run_now(ctx, phase, *plugin) : std::nullopt;
    if (!verdict) {
      plugins.hold(plugin);
      return std::nullopt;
    }
    if (!goes_on(ctx, phase, *plugin, *verdict)) {
      time.end = core::Clock::now();
      return PhaseEnd::responded;
    }
  }
  time.end = core::Clock::now();
  return PhaseEnd::completed;
}

asio::awaitable<PhaseEnd> PhaseRunner::run(core::RequestContext& ctx, core::Phase phase,
                                           PhasePlugins plugins) {
  auto& time = ctx.phase_times[static_cast<unsigned>(phase)];
  if (time.start == core::Clock::time_point{}) time.start = core::Clock::now();  // else run_now's
  PhaseEnd end = PhaseEnd::completed;
  while (const ConfiguredPlugin* plugin = plugins.next()) {
    ctx.phase = phase;
    // A native handler that needs no waiting runs as a plain call; any other through its host's
    // coroutine (through a local: GCC 12 miscompiles `if (!co_await f())`, PR 106188).
    std::optional<Verdict> verdict =
        plugin->is_native() ? native_.run_now(ctx, phase, *plugin) : std::nullopt;
    if (!verdict) {
      Verdict waited = co_await host_of(*plugin).run(ctx, phase, *plugin);
      verdict.emplace(std::move(waited));
    }
    if (!goes_on(ctx, phase, *plugin, *verdict)) {
      end = PhaseEnd::responded;
      break;
    }
  }
  time.end = core::Clock::now();
  co_return end;
}

PluginHost& PhaseRunner::host_of(const ConfiguredPlugin& plugin) {
  return plugin.is_native() ? static_cast<PluginHost&>(native_) : external_;
}

bool PhaseRunner::goes_on(core::RequestContext& ctx, core::Phase phase, const ConfiguredPlugin& plugin,
                          const Verdict& verdict) {
  switch (verdict.kind) {
    case Verdict::Kind::proceed:
      return true;
    case Verdict::Kind::exited:
      return phase == core::Phase::log;  // the log phase runs every plugin
    case Verdict::Kind::failed:
      break;
  }
  return apply_failure(ctx, phase, plugin, verdict);
}

bool PhaseRunner::apply_failure(core::RequestContext& ctx, core::Phase phase, const ConfiguredPlugin& plugin,
                                const Verdict& verdict) {
  const bool fail_open = policy_of(plugin) == pluginserver::OnError::fail_open;
  log_failure(phase, plugin, verdict, fail_open);
  if (fail_open || phase == core::Phase::log) return true;
  const int status = verdict.failure == Failure::timeout ? 504 : 500;
  ctx.response = {};
  ctx.response.status = status;
  ctx.response.source = "error";
  ctx.response.headers.set("Content-Type", "application/json; charset=utf-8");
  ctx.response.body = http::json_message_body(status == 504 ? "The plugin server is timing out"
                                                            : http::kong_default_message(500));
  return false;
}

void PhaseRunner::log_failure(core::Phase phase, const ConfiguredPlugin& plugin, const Verdict& verdict,
                              bool fail_open) {
  constexpr auto kInterval = std::chrono::seconds(1);
  auto key = fmt::format("{}\t{}\t{}", plugin.name, core::phase_name(phase), failure_name(verdict.failure));
  auto& throttle = failure_logs_.try_emplace(std::move(key), kInterval).first->second;
  uint64_t held_back = 0;
  if (!throttle.allow(held_back)) return;
  std::string more;
  if (held_back > 0)
    more =
        fmt::format(" ({} more such failures in this worker since the last line were not logged)", held_back);
  spdlog::error("plugin '{}' failed in phase {} ({}): {}{}{}", plugin.name, core::phase_name(phase),
                failure_name(verdict.failure), verdict.why, fail_open ? " — skipped (fail_open)" : "", more);
}

}  // namespace gh::plugins
