// The gateway side of Gatehouse:1 (docs/protocol.md): ProtoBuf:1 with the event's reads prefetched
// and the plugin's writes batched, so a C++ PDK plugin pays one round trip per phase. Commands,
// framing, connections, errors and timeouts are protobuf::Client's (docs/protocol-protobuf.md);
// this adds what to prefetch (declared by the plugin when its instance starts, and learned from its
// reports) and the event's extra frames.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pdk/handler.h"
#include "pluginserver/protobuf/client.h"

namespace gh::pluginserver::gatehouse {

using pdk::PdkHandler;
using pdk::PdkResult;

inline constexpr std::string_view kProtocol = "Gatehouse:1";

// Reads the gateway may run before the handler asks: the PDK table marks them (kReads: free of side
// effects, small replies) and ProtoBuf:1 can carry them.
bool prefetchable(std::string_view method);

// What to prefetch, per (instance, phase): the reads the plugin declared with `gatehouse.declare`
// when the instance started, and those it reported with `gatehouse.learn`. One plan per plugin
// server socket, shared by the clients of every worker (thread-safe): an instance is started by one
// worker and the plugin reports a read once, but every worker serves its events.
class PrefetchPlan {
 public:
  static constexpr std::size_t kMaxReadsPerPhase = 32;
  // (instance, phase) plans kept; beyond it new ones are refused (their events work, one round
  // trip per read) until instances close: plans already made are never dropped, because the PDK
  // reports a read once per instance and would not teach it again.
  static constexpr std::size_t kMaxPlans = 16384;

  struct Read {
    const protobuf::PdkMethod* method;
    std::string args;  // ProtoBuf:1 argument message bytes
  };
  using Reads = std::vector<Read>;

  // Adds the prefetchable reads of a report (a serialized gatehouse_protocol.Reads); false if
  // it does not decode.
  bool learn(std::int64_t instance_id, std::string_view phase, std::string_view report);
  // Adds the prefetchable reads of a declaration (a serialized gatehouse_protocol.Declaration);
  // nullopt if it does not decode, else the declared calls refused ("phase: method"), for the log.
  std::optional<std::vector<std::string>> declare(std::int64_t instance_id, std::string_view declaration);
  // What an event prefetches: a snapshot, unaffected by later learning (null when nothing).
  std::shared_ptr<const Reads> find(std::int64_t instance_id, std::string_view phase) const;
  Reads reads(std::int64_t instance_id, std::string_view phase) const;  // a copy, for tests
  void forget(std::int64_t instance_id);
  void clear();  // the server restarted: none of its instances is left

 private:
  using Key = std::pair<std::int64_t, std::string>;
  // Adds one read to a plan under construction; false if it is refused (not prefetchable, or full).
  static bool add(Reads& plan, std::string_view method, std::string_view args);
  // Replaces (instance, phase)'s plan by `update` applied to a copy of it (readers keep theirs).
  template <class Update>
  void change(std::int64_t instance_id, std::string_view phase, Update update);

  mutable std::mutex mutex_;
  std::map<Key, std::shared_ptr<const Reads>> plans_;
  bool full_logged_ = false;  // the warning about kMaxPlans, once until there is room again
};

// The plans of every Gatehouse:1 server, by socket: owned by the plugin runtime (which also voids
// a server's plan when it restarts), handed to the clients its workers make.
class PrefetchPlans {
 public:
  // The plan of the server listening on `socket_path` (made on first use, kept while the owner lives).
  std::shared_ptr<PrefetchPlan> of(const std::string& socket_path);

 private:
  std::mutex mutex_;  // taken when a bridge is made and when a server restarts, never per event
  std::map<std::string, std::shared_ptr<PrefetchPlan>> plans_;
};

class Client final : private protobuf::EventExtension {
 public:
  // `plan`: the prefetch plan of this server, shared with the clients of the other workers.
  Client(boost::asio::any_io_executor executor, std::string socket_path, std::chrono::milliseconds timeout,
         std::shared_ptr<PrefetchPlan> plan);

  boost::asio::awaitable<protobuf::InstanceStatus> start_instance(std::string name, std::string config_json);
  boost::asio::awaitable<void> close_instance(std::int64_t instance_id);
  boost::asio::awaitable<protobuf::EventOutcome> handle_event(std::int64_t instance_id,
                                                              std::string_view event_name, PdkHandler& pdk);

  const PrefetchPlan& plan() const { return *plan_; }

 private:
  boost::asio::awaitable<void> event_frames(std::int64_t instance_id, std::string_view event_name,
                                            protobuf::PdkCodec& codec, PdkHandler& pdk,
                                            std::string& outbox) override;
  bool serve_own_call(std::int64_t instance_id, std::string_view event_name, std::string_view method,
                      std::string_view args) override;
  std::string_view start_call() const override;
  void instance_started(const std::string& plugin_name, std::int64_t instance_id,
                        const std::string* declaration) override;

  std::shared_ptr<PrefetchPlan> plan_;
  protobuf::Client client_;
};

}  // namespace gh::pluginserver::gatehouse
