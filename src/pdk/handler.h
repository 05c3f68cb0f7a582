// The seam between the plugin-server bridges (MsgPack:1, ProtoBuf:1, ...) and the PDK table.
// A bridge decodes a plugin server's PDK request into (method, JSON arguments), asks the
// PdkHandler bound to the current event, and encodes the PdkResult in its own wire format.
// A bridge looks the wire name up in the table once (find_pdk_function) and passes the entry to
// run(), so the call is not looked up again and the bridge reads the entry's wire facts (MsgPack's
// step) from the same lookup.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gh::pdk {

// A PDK function refusing its call (bad argument, not available, ...). Handlers (and the
// native facade, pdk/kong.h) throw it; the table turns it into PdkResult::fail(message), so the plugin sees
// the error and nothing crashes.
class PdkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PdkResult {
  enum class Status {
    ok,        // `value` holds the result (Lua's first return value)
    nil,       // the function returned nil (MsgPack: Step without "Data"; ProtoBuf: empty reply)
    error,     // the function failed with `error` (MsgPack: StepError; ProtoBuf: per-method rules)
    terminal,  // kong.response.exit / kong.response.error: nothing more is sent for this event
  };
  Status status = Status::nil;
  nlohmann::json value;  // binary payloads (bodies) are nlohmann::json::binary_t
  std::string error;

  static PdkResult ok(nlohmann::json v) {
    PdkResult r;
    r.status = Status::ok;
    r.value = std::move(v);
    return r;
  }
  static PdkResult nil() { return {}; }
  static PdkResult fail(std::string message) {
    PdkResult r;
    r.status = Status::error;
    r.error = std::move(message);
    return r;
  }
};

struct PdkFunction;  // pdk/table.h
// The table entry for a wire name (aliases included), or nullptr.
const PdkFunction* find_pdk_function(std::string_view name);

// What /metrics counts per function (gatehouse_pdk_method_<what>_total{method}: PdkTallies).
enum class Tally : uint8_t {
  call,        // run for a plugin server (RequestPdk::run)
  prefetched,  // run by Gatehouse:1 before the plugin asked, sent with the event
  round_trip,  // sent by a plugin that waited for the answer over the wire
};

class PdkHandler {
 public:
  virtual ~PdkHandler() = default;
  // Runs one kong.* function for the current event: `function` is the table entry of the wire
  // name `method` (e.g. "kong.request.get_header"), null when the table has none. `args` is a
  // JSON array of the positional arguments as the Lua function takes them.
  virtual boost::asio::awaitable<PdkResult> run(const PdkFunction* function, std::string_view method,
                                                nlohmann::json args) = 0;
  // Counts one `what` of a table entry, for the bridges (round trips, prefetched reads). Counts
  // nothing unless the handler was given counters (RequestPdk made by a worker).
  virtual void tally(const PdkFunction& /*function*/, Tally /*what*/) {}
  // run() by wire name (tests, tools; the bridges have the entry already).
  boost::asio::awaitable<PdkResult> call(std::string_view method, nlohmann::json args) {
    return run(find_pdk_function(method), method, std::move(args));
  }
};

}  // namespace gh::pdk
