// Where a plugin's code runs. The phase runner drives every plugin through this one interface;
// two implementations: ExternalHost (a plugin server over MsgPack:1, ProtoBuf:1 or Gatehouse:1)
// and NativeHost (C++ in the gateway's process). A host runs the handler and reports what
// happened as a Verdict; it never decides what the request does next (the runner does).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>

#include "core/phase.h"
#include "core/request_context.h"
#include "plugins/plugin_set.h"
#include "plugins/verdict.h"

namespace gh::plugins {

class PluginHost {
 public:
  virtual ~PluginHost() = default;
  // Runs `plugin`'s handler of `phase` for this request (ctx.phase is already `phase`).
  virtual boost::asio::awaitable<Verdict> run(core::RequestContext& ctx, core::Phase phase,
                                              const ConfiguredPlugin& plugin) = 0;
};

// Native plugins: the handler made from the entity's config, called with the typed PDK.
class NativeHost final : public PluginHost {
 public:
  // The phase as a plain call when the handler can do it without waiting (NativeHandler::run_now);
  // nullopt, with nothing done, when it needs its coroutine: then `run`.
  std::optional<Verdict> run_now(core::RequestContext& ctx, core::Phase phase,
                                 const ConfiguredPlugin& plugin);
  // The handler's coroutine of `phase` (after run_now declined it).
  boost::asio::awaitable<Verdict> run(core::RequestContext& ctx, core::Phase phase,
                                      const ConfiguredPlugin& plugin) override;
};

}  // namespace gh::plugins
