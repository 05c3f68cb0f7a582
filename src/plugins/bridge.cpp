#include "plugins/bridge.h"

#include <type_traits>
#include <utility>

#include "pluginserver/gatehouse/client.h"
#include "pluginserver/msgpack/client.h"
#include "pluginserver/msgpack/connection.h"
#include "pluginserver/protobuf/client.h"

namespace gh::plugins {

namespace {

// The protocol clients have the same instance/event interface; only the wire differs. Inside a
// client a failure is thrown; it stops here and goes up as a value.
template <typename Client>
class ClientBridge final : public Bridge {
 public:
  // `extra`: what a protocol's client takes besides its socket and timeout (Gatehouse:1: its plan,
  // MsgPack:1: the restart counts).
  template <typename... Extra>
  ClientBridge(boost::asio::any_io_executor ex, const pluginserver::ServerConfig& server, Extra&&... extra)
      : client_(ex, server.socket, server.timeout, std::forward<Extra>(extra)...) {}
  boost::asio::awaitable<Started> start_instance(const std::string& name,
                                                 const std::string& config_json) override {
    try {
      auto status = co_await client_.start_instance(name, config_json);
      co_return Started{status.id, std::nullopt};
    } catch (const pluginserver::wire::RpcError& e) {
      co_return Started{-1, e.error()};
    }
  }
  boost::asio::awaitable<std::optional<pluginserver::wire::Error>> close_instance(int64_t id) override {
    try {
      co_await client_.close_instance(id);
    } catch (const pluginserver::wire::RpcError& e) {
      co_return e.error();
    }
    co_return std::nullopt;
  }
  boost::asio::awaitable<EventStats> handle_event(int64_t id, std::string_view phase,
                                                  pdk::PdkHandler& pdk) override {
    try {
      auto outcome = co_await client_.handle_event(id, phase, pdk);
      EventStats stats{outcome.terminated, outcome.pdk_calls, 1 + outcome.pdk_calls, std::nullopt};
      if constexpr (std::is_same_v<Client, pluginserver::gatehouse::Client>)
        stats.round_trips = 1 + outcome.answered_calls;
      co_return stats;
    } catch (const pluginserver::wire::RpcError& e) {
      co_return EventStats{false, 0, 0, e.error()};
    }
  }

 private:
  Client client_;
};

}  // namespace

Failure failure_of(pluginserver::wire::ErrorKind kind) {
  using K = pluginserver::wire::ErrorKind;
  switch (kind) {
    case K::instance_gone:
    case K::closed:
      return Failure::instance_lost;
    case K::timeout:
      return Failure::timeout;
    case K::transport:
      return Failure::unavailable;
    case K::protocol:  // a stream out of step: the server is restarted
      return Failure::protocol;
    case K::bad_reply:  // MsgPack:1 garbage: the connection is dropped, the server kept
    case K::rejected:
    case K::server_error:
      break;
  }
  return Failure::error;
}

std::unique_ptr<Bridge> make_bridge(boost::asio::any_io_executor ex, const pluginserver::ServerConfig& server,
                                    std::string_view protocol, const ServerRecords& records) {
  if (protocol == "MsgPack:1")
    return std::make_unique<ClientBridge<pluginserver::msgpack::Client>>(ex, server, records.restarts);
  if (protocol == "ProtoBuf:1")
    return std::make_unique<ClientBridge<pluginserver::protobuf::Client>>(ex, server);
  if (protocol == pluginserver::gatehouse::kProtocol)  // ProtoBuf:1 + prefetch/batching: its errors too
    return std::make_unique<ClientBridge<pluginserver::gatehouse::Client>>(ex, server,
                                                                           records.plans->of(server.socket));
  return nullptr;
}

std::shared_ptr<Bridge> BridgeSlot::get(boost::asio::any_io_executor ex,
                                        const pluginserver::ServerConfig& server, std::string_view protocol,
                                        const ServerRecords& records) {
  if (bridge_ && socket_ == server.socket && timeout_ == server.timeout && protocol_ == protocol)
    return bridge_;
  socket_ = server.socket;
  timeout_ = server.timeout;
  protocol_ = protocol;
  bridge_ = make_bridge(ex, server, protocol, records);
  return bridge_;
}

}  // namespace gh::plugins
