// The seam between the plugin-server bridges (MsgPack:1, ProtoBuf:1, ...) and the PDK table.
// A bridge decodes a plugin server's PDK request into (method, JSON arguments), asks the
// PdkHandler bound to the current event, and encodes the PdkResult in its own wire format.
// Header-only on purpose: the bridges do not link against the PDK, the PDK implements this.
#pragma once

#include <boost/asio/awaitable.hpp>
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
  // MsgPack step name for typed results: "plugin.Step", "plugin.StepMultiMap", "plugin.StepConsumer",
  // "plugin.StepCredential", "plugin.StepRoute", "plugin.StepService", ... (see
  // kong-gateway-side.md §5.6/§5.7). A static string owned by the PDK table.
  std::string_view step = "plugin.Step";

  static PdkResult ok(nlohmann::json v, std::string_view step = "plugin.Step") {
    PdkResult r;
    r.status = Status::ok;
    r.value = std::move(v);
    r.step = step;
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

class PdkHandler {
 public:
  virtual ~PdkHandler() = default;
  // Runs one kong.* function (wire name, e.g. "kong.request.get_header") for the current event.
  // `args` is a JSON array of the positional arguments as the Lua function takes them.
  virtual boost::asio::awaitable<PdkResult> call(std::string_view method, nlohmann::json args) = 0;
};

}  // namespace gh::pdk
