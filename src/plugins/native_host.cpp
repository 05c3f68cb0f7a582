#include <optional>
#include <string>

#include "pdk/kong.h"
#include "plugins/host.h"

namespace gh::plugins {

namespace {
Verdict verdict_of(const pdk::Kong& kong) {
  return kong.response.exited() ? Verdict::exited() : Verdict::proceed();
}
}  // namespace

std::optional<Verdict> NativeHost::run_now(core::RequestContext& ctx, core::Phase phase,
                                           const ConfiguredPlugin& plugin) {
  pdk::PluginCall call{plugin.name, plugin.entity->id, phase, &plugin.entity->config};
  pdk::Kong kong(ctx, call);
  try {
    if (!plugin.handler->run_now(phase, kong)) return std::nullopt;
  } catch (const std::exception& e) {  // Kong: a Lua error in a handler
    return Verdict::failed(Failure::error, e.what());
  }
  return verdict_of(kong);
}

boost::asio::awaitable<Verdict> NativeHost::run(core::RequestContext& ctx, core::Phase phase,
                                                const ConfiguredPlugin& plugin) {
  pdk::PluginCall call{plugin.name, plugin.entity->id, phase, &plugin.entity->config};
  pdk::Kong kong(ctx, call);
  std::optional<std::string> why;
  try {
    co_await plugin.handler->run(phase, kong);
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (why) co_return Verdict::failed(Failure::error, std::move(*why));
  co_return verdict_of(kong);
}

}  // namespace gh::plugins
