// The gateway side of Gatehouse:1 (docs/protocol.md): ProtoBuf:1 with the event's reads prefetched
// and the plugin's writes batched, so a C++ PDK plugin pays one round trip per phase. Commands,
// framing, connections, errors and timeouts are protobuf::Client's (docs/protocol-protobuf.md);
// this adds what to prefetch (learned from the plugin's reports) and the event's extra frames.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pluginserver/pdk_handler.h"
#include "pluginserver/protobuf/client.h"

namespace gh::pluginserver::gatehouse {

inline constexpr std::string_view kProtocol = "Gatehouse:1";

// Reads the gateway may run before the handler asks: free of side effects, small replies.
bool prefetchable(std::string_view method);

// What to prefetch, per (instance, phase): the reads the plugin reported with `gatehouse.learn`.
class PrefetchPlan {
 public:
  static constexpr std::size_t kMaxReadsPerPhase = 32;
  static constexpr std::size_t kMaxPlans = 4096;  // then forget them all and learn again

  struct Read {
    const protobuf::PdkMethod* method;
    std::string args;  // ProtoBuf:1 argument message bytes
  };

  // Adds the prefetchable reads of a report (a serialized gatehouse_protocol.Reads); false if
  // it does not decode.
  bool learn(std::int64_t instance_id, std::string_view phase, std::string_view report);
  const std::vector<Read>& reads(std::int64_t instance_id, std::string_view phase) const;
  void forget(std::int64_t instance_id);

 private:
  std::map<std::pair<std::int64_t, std::string>, std::vector<Read>> plans_;
};

class Client final : private protobuf::EventExtension {
 public:
  Client(boost::asio::any_io_executor executor, std::string socket_path, std::chrono::milliseconds timeout);

  boost::asio::awaitable<protobuf::InstanceStatus> start_instance(std::string name, std::string config_json);
  boost::asio::awaitable<void> close_instance(std::int64_t instance_id);
  boost::asio::awaitable<protobuf::EventOutcome> handle_event(std::int64_t instance_id,
                                                              std::string_view event_name, PdkHandler& pdk);

  const PrefetchPlan& plan() const { return plan_; }

 private:
  boost::asio::awaitable<void> event_frames(std::int64_t instance_id, std::string_view event_name,
                                            protobuf::PdkCodec& codec, PdkHandler& pdk,
                                            std::string& outbox) override;
  bool serve_own_call(std::int64_t instance_id, std::string_view event_name, std::string_view method,
                      std::string_view args) override;

  PrefetchPlan plan_;
  protobuf::Client client_;
};

}  // namespace gh::pluginserver::gatehouse
