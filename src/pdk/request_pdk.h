// The PDK table bound to one request: what a plugin's kong.* calls do to the gateway's state.
// Both plugin-server bridges (MsgPack:1, ProtoBuf:1) and native plugins go through call(); the
// functions themselves live in ONE table (pdk/table.h), keyed by Kong's wire name.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pdk/plugin_call.h"
#include "pluginserver/pdk_handler.h"
#include "proxy/request_context.h"

namespace gh::pdk {

class RequestPdk : public pluginserver::PdkHandler {
 public:
  RequestPdk(proxy::RequestContext& ctx, const PluginCall& plugin) : ctx_(ctx), plugin_(plugin) {}

  // Unknown method → error "method '<m>' is not supported"; a call outside its phases → Kong's
  // "function cannot be called in <phase> phase (only in: ...)"; bad arguments → an error that
  // names the argument. Never throws.
  boost::asio::awaitable<pluginserver::PdkResult> call(std::string_view method, nlohmann::json args) override;

 private:
  proxy::RequestContext& ctx_;
  const PluginCall& plugin_;
};

// Every wire name the table serves (sorted), for docs, metrics and tests.
std::vector<std::string_view> supported_methods();

// kong.node.get_id when kong.conf has no `node_id`: a random UUID made once per process.
const std::string& process_node_id();

}  // namespace gh::pdk
