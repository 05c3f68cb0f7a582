#include "plugins/bridge.h"

#include <type_traits>

#include "pluginserver/gatehouse/client.h"
#include "pluginserver/msgpack/client.h"
#include "pluginserver/msgpack/connection.h"
#include "pluginserver/protobuf/client.h"
#include "pluginserver/protobuf/errors.h"

namespace gh::plugins {

namespace {

// Both protocol clients have the same instance/event interface; only the wire differs.
template <typename Client>
class ClientBridge final : public Bridge {
 public:
  ClientBridge(boost::asio::any_io_executor ex, const pluginserver::ServerConfig& server)
      : client_(ex, server.socket, server.timeout) {}
  boost::asio::awaitable<int64_t> start_instance(const std::string& name,
                                                 const std::string& config_json) override {
    auto status = co_await client_.start_instance(name, config_json);
    co_return status.id;
  }
  boost::asio::awaitable<void> close_instance(int64_t id) override { co_await client_.close_instance(id); }
  boost::asio::awaitable<EventStats> handle_event(int64_t id, std::string_view phase,
                                                  pdk::PdkHandler& pdk) override {
    auto outcome = co_await client_.handle_event(id, phase, pdk);
    EventStats stats{outcome.terminated, outcome.pdk_calls, 1 + outcome.pdk_calls};
    if constexpr (std::is_same_v<Client, pluginserver::gatehouse::Client>)
      stats.round_trips = 1 + outcome.answered_calls;
    co_return stats;
  }

 private:
  Client client_;
};

}  // namespace

Failure classify(const std::exception& e) {
  if (auto* mp = dynamic_cast<const pluginserver::msgpack::RpcError*>(&e)) {
    using K = pluginserver::msgpack::ErrorKind;
    if (mp->instance_lost()) return Failure::instance_lost;
    if (mp->kind() == K::timeout) return Failure::timeout;
    if (mp->kind() == K::transport) return Failure::unavailable;
    return Failure::error;
  }
  if (auto* pb = dynamic_cast<const pluginserver::protobuf::RpcError*>(&e)) {
    using K = pluginserver::protobuf::ErrorKind;
    if (pb->instance_lost()) return Failure::instance_lost;
    if (pb->kind() == K::timeout) return Failure::timeout;
    if (pb->kind() == K::transport) return Failure::unavailable;
    if (pb->kind() == K::protocol) return Failure::protocol;
    return Failure::error;
  }
  return Failure::error;
}

std::unique_ptr<Bridge> make_bridge(boost::asio::any_io_executor ex, const pluginserver::ServerConfig& server,
                                    std::string_view protocol) {
  if (protocol == "MsgPack:1")
    return std::make_unique<ClientBridge<pluginserver::msgpack::Client>>(ex, server);
  if (protocol == "ProtoBuf:1")
    return std::make_unique<ClientBridge<pluginserver::protobuf::Client>>(ex, server);
  if (protocol == pluginserver::gatehouse::kProtocol)  // ProtoBuf:1 + prefetch/batching: its errors too
    return std::make_unique<ClientBridge<pluginserver::gatehouse::Client>>(ex, server);
  return nullptr;
}

std::shared_ptr<Bridge> BridgeSlot::get(boost::asio::any_io_executor ex,
                                        const pluginserver::ServerConfig& server, std::string_view protocol) {
  if (bridge_ && socket_ == server.socket && timeout_ == server.timeout && protocol_ == protocol)
    return bridge_;
  socket_ = server.socket;
  timeout_ = server.timeout;
  protocol_ = protocol;
  bridge_ = make_bridge(ex, server, protocol);
  return bridge_;
}

}  // namespace gh::plugins
