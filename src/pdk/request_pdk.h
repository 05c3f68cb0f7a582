// The PDK table bound to one request: what a plugin's kong.* calls do to the gateway's state.
// Every plugin-server bridge (MsgPack:1, ProtoBuf:1, Gatehouse:1) goes through run(); the
// functions themselves live in ONE table (pdk/table.h), keyed by Kong's wire name.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/request_context.h"
#include "pdk/handler.h"
#include "pdk/plugin_call.h"
#include "pdk/table.h"

namespace gh::pdk {

class RequestPdk : public pdk::PdkHandler {
 public:
  // `event_deadline`: when the event runs out of time (the server's timeout, per event). A call
  // made after it is not run: it ends the event as kong.response.exit does (the bridge stops
  // answering, so a plugin that keeps calling cannot hold the request), and overran() says so.
  // `tallies`: the worker's PDK counters (null: nothing is counted).
  RequestPdk(
      core::RequestContext& ctx, const PluginCall& plugin,
      std::chrono::steady_clock::time_point event_deadline = std::chrono::steady_clock::time_point::max(),
      PdkTallies* tallies = nullptr)
      : ctx_(ctx), plugin_(plugin), event_deadline_(event_deadline), tallies_(tallies) {}

  // Unknown method → error "method '<m>' is not supported"; a call outside its phases → Kong's
  // "function cannot be called in <phase> phase (only in: ...)"; bad arguments → an error that
  // names the argument. Never throws.
  boost::asio::awaitable<pdk::PdkResult> run(const PdkFunction* function, std::string_view method,
                                             nlohmann::json args) override;
  void tally(const PdkFunction& function, Tally what) override {
    if (tallies_) tallies_->count(function, what);
  }
  // True when the event was cut at its deadline (the runner then applies the failure policy).
  bool overran() const { return overran_; }
  // True when a call ended the request with a response (kong.response.exit / error).
  bool exited() const { return exited_; }

 private:
  core::RequestContext& ctx_;
  const PluginCall& plugin_;
  std::chrono::steady_clock::time_point event_deadline_;
  PdkTallies* tallies_;
  bool overran_ = false;
  bool exited_ = false;
};

// Every wire name the table serves (sorted), for docs, metrics and tests.
std::vector<std::string_view> supported_methods();

}  // namespace gh::pdk
