// One interface over the plugin-server protocols (MsgPack:1, ProtoBuf:1, Gatehouse:1), so the
// phase runner and the instance cache never branch on the protocol. One Bridge per worker and
// server. A failed exchange comes back as a value: the wire layer's one error type
// (pluginserver/wire/error.h), turned into the runner's Failure by failure_of().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pdk/handler.h"
#include "plugins/verdict.h"
#include "pluginserver/config.h"
#include "pluginserver/wire/error.h"

namespace gh::pluginserver::gatehouse {
class PrefetchPlans;
}
namespace gh::pluginserver::msgpack {
class RestartCounts;
}

namespace gh::plugins {

// What one event cost: the PDK calls the plugin made, and the round trips the gateway waited for
// (the event itself plus every call answered; Gatehouse:1 answers no writes and prefetches reads).
struct EventStats {
  bool terminated = false;  // the plugin ended it with kong.response.exit
  unsigned pdk_calls = 0;
  unsigned round_trips = 0;
  std::optional<pluginserver::wire::Error> error;  // the event failed on the wire
};

// A started instance's id, or why it could not be started.
struct Started {
  int64_t id = -1;
  std::optional<pluginserver::wire::Error> error;
};

class Bridge {
 public:
  virtual ~Bridge() = default;
  virtual boost::asio::awaitable<Started> start_instance(const std::string& name,
                                                         const std::string& config_json) = 0;
  // Kong ignores a failed close; the error is returned for the log.
  virtual boost::asio::awaitable<std::optional<pluginserver::wire::Error>> close_instance(int64_t id) = 0;
  // Runs one event. Exceptions of the PdkHandler propagate.
  virtual boost::asio::awaitable<EventStats> handle_event(int64_t id, std::string_view phase,
                                                          pdk::PdkHandler& pdk) = 0;
};

// What the runner does about a failed exchange.
Failure failure_of(pluginserver::wire::ErrorKind kind);

// What the runtime keeps about each plugin server for the bridges of every worker, by socket
// path; a (re)start of the server voids both. Shared: a bridge may outlive the runtime by a
// moment at shutdown.
struct ServerRecords {
  std::shared_ptr<pluginserver::gatehouse::PrefetchPlans> plans;  // Gatehouse:1's prefetch plans
  std::shared_ptr<pluginserver::msgpack::RestartCounts>
      restarts;  // MsgPack:1: which pooled connections are stale
};

// A bridge for `protocol` ("MsgPack:1", "ProtoBuf:1" or "Gatehouse:1"); null for an unknown protocol.
// A Gatehouse:1 bridge takes its server's prefetch plan, a MsgPack:1 bridge the restart counts.
std::unique_ptr<Bridge> make_bridge(boost::asio::any_io_executor ex, const pluginserver::ServerConfig& server,
                                    std::string_view protocol, const ServerRecords& records);

// A server's bridge, remade when a reload changes what it was built from (socket, timeout,
// protocol): a bridge bakes those in. Shared, so that an event still running on the old bridge
// keeps it alive until it ends.
class BridgeSlot {
 public:
  // The bridge for `server` as configured now (null for an unknown protocol).
  std::shared_ptr<Bridge> get(boost::asio::any_io_executor ex, const pluginserver::ServerConfig& server,
                              std::string_view protocol, const ServerRecords& records);

 private:
  std::string socket_, protocol_;
  std::chrono::milliseconds timeout_{0};
  std::shared_ptr<Bridge> bridge_;
};

}  // namespace gh::plugins
