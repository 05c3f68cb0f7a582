// The PDK table: one entry per Kong wire name holding every fact about the function: the phases it
// may run in, what the gateway may assume about it (a side-effect-free read? HTTP only?), the
// MsgPack Step variant its result travels in, and its handler. Adding a PDK function is adding one
// entry in the file of its namespace (request.cpp, response.cpp, service.cpp, client.cpp, node.cpp).
// The bridges look a wire name up once (find_pdk_function) and pass the entry on
// (PdkHandler::run); ProtoBuf:1's argument/result messages come from Kong's .proto schema and are
// bound to the entry once (pluginserver/protobuf/methods.h).
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/phase.h"
#include "core/request_context.h"
#include "pdk/handler.h"
#include "pdk/plugin_call.h"

namespace gh::metrics {
class Counter;
class Registry;
}  // namespace gh::metrics

namespace gh::pdk {

using json = nlohmann::json;
using pdk::PdkResult;

// Phase masks (Kong's phase checker, restricted to the phases external plugins get).
using core::Phase;
using core::PhaseMask;
inline constexpr PhaseMask kRewrite = core::bit(Phase::rewrite);
inline constexpr PhaseMask kAccess = core::bit(Phase::access);
inline constexpr PhaseMask kResponse = core::bit(Phase::response);
inline constexpr PhaseMask kLog = core::bit(Phase::log);
inline constexpr PhaseMask kCertificate = core::bit(Phase::certificate);
inline constexpr PhaseMask kPreread = core::bit(Phase::preread);
inline constexpr PhaseMask kAnyPhase = core::kAnyPhase;
inline constexpr PhaseMask kHttpPhases = kRewrite | kAccess | kResponse | kLog;
inline constexpr PhaseMask kBeforeProxy = kRewrite | kAccess;
inline constexpr PhaseMask kRoutedPhases = kAccess | kResponse | kLog;  // need the route
inline constexpr PhaseMask kResponseWritable = kRewrite | kAccess | kResponse;
inline constexpr PhaseMask kUpstreamResponse = kResponse | kLog;

// One PDK call in progress: the request, the calling plugin and the positional arguments, with
// argument readers that throw PdkError with Kong-style messages.
struct PdkCall {
  core::RequestContext& ctx;
  const PluginCall& plugin;
  const json& args;

  const json& arg(size_t i) const;  // null when absent
  bool has(size_t i) const { return !arg(i).is_null(); }
  std::string string_arg(size_t i, std::string_view what) const;
  std::optional<std::string> optional_string(size_t i, std::string_view what) const;
  int64_t int_arg(size_t i, std::string_view what) const;
  std::optional<int64_t> optional_int(size_t i, std::string_view what) const;
  bool bool_arg(size_t i, std::string_view what) const;
  const http::RequestHead& request() const;  // throws PdkError when there is no client request
};

using SyncHandler = PdkResult (*)(PdkCall&);
using AsyncHandler = boost::asio::awaitable<PdkResult> (*)(PdkCall&);

// What the gateway may assume about a function beyond its phases (PdkFunction::facts, a bit set).
using Facts = uint8_t;
// An effect (or a large reply, or an answer that depends on when it is asked): run only when the
// plugin asks.
inline constexpr Facts kCalls = 0;
// Free of side effects with a small reply: may run before the plugin asks (Gatehouse:1 prefetch).
inline constexpr Facts kReads = 1;
// Needs an HTTP request or response: Kong's stream subsystem has none to give it.
inline constexpr Facts kHttpOnly = 2;
inline constexpr Facts kHttpReads = kReads | kHttpOnly;

struct PdkFunction {
  std::string_view name;  // the wire name, e.g. "kong.request.get_header"
  PhaseMask phases;
  Facts facts;
  std::string_view step;         // MsgPack Step variant of the result
  SyncHandler sync = nullptr;    // exactly one of sync/async is set
  AsyncHandler async = nullptr;  // for functions that may wait (request body)

  bool read_only() const { return (facts & kReads) != 0; }
  bool http_only() const { return (facts & kHttpOnly) != 0; }
};

// The entry for a wire name (aliases included), or nullptr.
const PdkFunction* find_pdk_function(std::string_view name);

// The MsgPack Step variant answering `function` (plain plugin.Step for a name not in the table).
inline std::string_view step_of(const PdkFunction* function) {
  return function ? function->step : std::string_view("plugin.Step");
}

// gatehouse_pdk_method_<what>_total{method}: what plugin servers' PDK calls cost, per table entry
// (so the label set is bounded), in a registry's families (the gateway's: SharedMemory::metrics).
// One per worker (its ExternalHost): the cells it keeps may only be bumped by the thread that
// first counted with them, so after the first count of each (entry, what) counting is a plain
// store.
class PdkTallies {
 public:
  explicit PdkTallies(metrics::Registry& registry);
  void count(const PdkFunction& function, Tally what);

 private:
  std::array<metrics::Counter*, 3> families_;  // by Tally
  std::vector<std::atomic<double>*> cells_;    // by table entry x Tally (null: not yet found)
};

// A connection of Kong's stream subsystem (stream_listen): its scheme is its protocol, tcp or tls.
inline bool stream_subsystem(const core::RequestContext& ctx) {
  return ctx.scheme == "tcp" || ctx.scheme == "tls";
}

// Step names (kong-gateway-side.md §5.6).
inline constexpr std::string_view kStep = "plugin.Step";
inline constexpr std::string_view kStepMultiMap = "plugin.StepMultiMap";
inline constexpr std::string_view kStepConsumer = "plugin.StepConsumer";
inline constexpr std::string_view kStepCredential = "plugin.StepCredential";
inline constexpr std::string_view kStepRoute = "plugin.StepRoute";
inline constexpr std::string_view kStepService = "plugin.StepService";
inline constexpr std::string_view kStepMemoryStats = "plugin.StepMemoryStats";

}  // namespace gh::pdk
