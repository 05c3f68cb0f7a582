// The gateway side of Kong's ProtoBuf:1 plugin-server protocol (go-pdk embedded servers):
// kong-gateway-side.md §6, docs/protocol-protobuf.md. One Client per plugin server socket per
// worker thread; it is cheap, shares the io_context's pool of idle connections, and may run
// many operations concurrently (each on its own connection).
//
// Errors: every operation throws protobuf::RpcError (errors.h) with a kind:
//   transport      socket missing / refused                       → server not ready or down
//   timeout        a wait on the server exceeded `timeout`          → restart the server
//   instance_gone  handle_event: the server closed the connection   → start the instance again,
//                  (go-pdk's answer to an unknown/purged instance)    retry the event (bounded)
//   rejected       start/close_instance: closed without a reply     → the command failed
//   protocol       malformed frame/message, wrong sequence          → restart the server
// Exceptions thrown by the PdkHandler propagate unchanged (as in msgpack::Client).
// After any error the connection is closed, never reused.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pdk/handler.h"
#include "pluginserver/protobuf/errors.h"
#include "pluginserver/protobuf/framing.h"

namespace gh::pluginserver::protobuf {

using pdk::PdkHandler;
using pdk::PdkResult;

class Connection;
class PdkCodec;
struct PdkMethod;

// Hooks of a protocol that extends ProtoBuf:1's events (Gatehouse:1, docs/protocol.md;
// src/pluginserver/gatehouse). Without one, handle_event is exactly ProtoBuf:1.
class EventExtension {
 public:
  virtual ~EventExtension() = default;
  // Appends the frames that follow the cmd_handle_event RpcCall (sent in the same write).
  virtual boost::asio::awaitable<void> event_frames(std::int64_t instance_id, std::string_view event_name,
                                                    PdkCodec& codec, PdkHandler& pdk,
                                                    std::string& outbox) = 0;
  // A pseudo-call the extension serves itself, never answered (e.g. "gatehouse.learn");
  // false: `method` is an ordinary PDK call.
  virtual bool serve_own_call(std::int64_t instance_id, std::string_view event_name, std::string_view method,
                              std::string_view args) = 0;
  // The pseudo-call a server may send before the RpcReturn of cmd_start_instance (a method frame,
  // then an argument frame; "gatehouse.declare"); empty: none is expected.
  virtual std::string_view start_call() const { return {}; }
  // cmd_start_instance succeeded; `args` is the argument frame of start_call(), nullptr if the
  // server did not send it.
  virtual void instance_started(const std::string& /*plugin_name*/, std::int64_t /*instance_id*/,
                                const std::string* /*args*/) {}
};

struct InstanceStatus {
  std::string name;
  std::int64_t id = 0;          // go-pdk: the config's __seq__
  std::int64_t started_at = 0;  // Unix seconds
};

struct EventOutcome {
  // A PDK call answered PdkResult::terminal (kong.response.exit): nothing was replied and the
  // connection was closed, which ends go-pdk's handler. Otherwise the handler returned.
  bool terminated = false;
  unsigned pdk_calls = 0;
  unsigned answered_calls = 0;  // extended events: calls the plugin waited for (a round trip each)
};

class Client {
 public:
  Client(boost::asio::any_io_executor executor, std::string socket_path, std::chrono::milliseconds timeout,
         std::size_t max_frame_size = kDefaultMaxFrameSize);
  // A client whose connections first send `hello` as a frame (Gatehouse:1 names itself so), and
  // whose events use `extension` (not owned; outlives the client). Its idle connections are pooled
  // apart from plain ProtoBuf:1 ones.
  Client(boost::asio::any_io_executor executor, std::string socket_path, std::chrono::milliseconds timeout,
         std::string hello, EventExtension& extension);

  // cmd_start_instance. `config_json` is the plugin config as JSON text including "__seq__",
  // which go-pdk uses as the instance id (keep it non-zero, unique and below 2^31).
  boost::asio::awaitable<InstanceStatus> start_instance(std::string name, std::string config_json);
  // cmd_close_instance. Kong ignores its errors; callers usually do too.
  boost::asio::awaitable<void> close_instance(std::int64_t instance_id);
  // cmd_handle_event: serves the plugin's PDK calls through `pdk` until the handler finishes or
  // calls kong.response.exit. Unknown method names are answered with a zero-length frame (the
  // zero value) and logged, rather than aborting the event as Kong does.
  boost::asio::awaitable<EventOutcome> handle_event(std::int64_t instance_id, std::string_view event_name,
                                                    PdkHandler& pdk);

  const std::string& socket_path() const { return socket_path_; }

 private:
  class Lease;
  boost::asio::awaitable<std::shared_ptr<Connection>> checkout();
  // Sends conn.rpc_call() (sequence set here) and reads the RpcReturn into conn.rpc_return().
  boost::asio::awaitable<void> send_call(Connection& conn, std::int64_t sequence, ErrorKind on_close);
  boost::asio::awaitable<void> read_return(Connection& conn, std::int64_t sequence, ErrorKind on_close);
  void parse_return(Connection& conn, std::string_view frame, std::int64_t sequence);
  // Serves one PDK call (method frame already read); false if it was terminal.
  boost::asio::awaitable<bool> serve_pdk_call(Connection& conn, const std::string& method, PdkHandler& pdk);
  // The extension's event loop: writes (Empty replies) are not answered; after a terminal call
  // (which sets outcome.terminated) further calls are not run.
  boost::asio::awaitable<void> serve_extended_call(Connection& conn, const std::string& method,
                                                   PdkHandler& pdk, std::int64_t instance_id,
                                                   std::string_view event_name, EventOutcome& outcome);
  std::string pool_key() const { return hello_.empty() ? socket_path_ : socket_path_ + '\n' + hello_; }

  boost::asio::any_io_executor executor_;
  std::string socket_path_;
  std::chrono::milliseconds timeout_;
  std::size_t max_frame_size_;
  std::string hello_;
  EventExtension* extension_ = nullptr;
  // Kong's quirk: sequences sent are 2, 3, 4, ... (never 0, which proto3 would omit).
  std::int64_t last_sequence_ = 1;
};

}  // namespace gh::pluginserver::protobuf
