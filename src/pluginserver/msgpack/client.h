// Gatehouse's side of Kong's `MsgPack:1` plugin-server protocol (kong-gateway-side.md §5): the
// instance calls and the HandleEvent/Step loop that serves a plugin's PDK calls through a
// PdkHandler. One Client per worker thread and plugin server (socket path); Clients of one worker
// may share a ConnectionPool.
//
// Errors: every method throws RpcError (connection.h) with a category:
//   instance_gone  "no plugin instance" from the server   ┐ instance_lost(): start the instance
//   closed         the server closed the connection       ┘ again and retry the event (bounded)
//   timeout        a call or the whole event overran its deadline
//   transport      cannot connect / socket error;  protocol  not MessagePack-RPC;
//   server_error   any other error string from the server.
// Exceptions thrown by the PdkHandler propagate unchanged (the server's event is left dangling,
// as in Kong).
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
#include "pluginserver/msgpack/codec.h"
#include "pluginserver/msgpack/connection.h"

namespace gh::pluginserver::msgpack {

using pdk::PdkHandler;
using pdk::PdkResult;

struct ClientOptions {
  // Deadline of each RPC: connect (when no pooled connection is idle), write, and the response.
  std::chrono::milliseconds call_timeout{60000};
  // Deadline of a whole HandleEvent step loop, PDK calls included; zero means none. An event
  // that overruns fails with ErrorKind::timeout before its next RPC or during it.
  std::chrono::milliseconds event_timeout{0};
  size_t max_idle_connections = 128;  // per socket path, when the Client creates its own pool
  DecodeLimits limits;
};

// plugin.StartInstance's result.
struct InstanceStatus {
  std::string name;
  int64_t id = 0;
  nlohmann::json config;  // as the server decoded it
  double start_time = 0;
};

struct EventOutcome {
  int64_t event_id = 0;
  // The plugin called a terminal PDK function (PdkResult::Status::terminal, i.e.
  // kong.response.exit / kong.response.error): no Step was sent, the event is over for us.
  bool terminated = false;
  unsigned pdk_calls = 0;
};

class Client {
 public:
  // A Client with its own connection pool; `timeout` is the per-call deadline; `restarts`: the
  // supervisor's (ConnectionPool).
  Client(boost::asio::any_io_executor ex, std::string socket_path, std::chrono::milliseconds timeout,
         std::shared_ptr<RestartCounts> restarts = nullptr);
  // A Client sharing a worker's pool.
  Client(std::shared_ptr<ConnectionPool> pool, std::string socket_path, ClientOptions options);

  // plugin.StartInstance [{Name, Config}]; `config_json` is the JSON text Kong would send (§4.2).
  boost::asio::awaitable<InstanceStatus> start_instance(std::string_view name, std::string_view config_json) {
    return start_instance_impl(std::string(name), std::string(config_json));
  }
  // plugin.CloseInstance [id]; the server's status reply is ignored (as Kong does).
  boost::asio::awaitable<void> close_instance(int64_t id);
  // plugin.HandleEvent [{InstanceId, EventName}] then one Step per PDK call until "ret" or a
  // terminal PDK result. The whole event stays on one pooled connection. The method name given to
  // PdkHandler::call points into the connection's buffer: valid until that call completes.
  // (String arguments are copied when called: the coroutine may run after the caller's
  // temporaries are gone, e.g. under co_spawn.)
  boost::asio::awaitable<EventOutcome> handle_event(int64_t instance_id, std::string_view event_name,
                                                    PdkHandler& pdk) {
    return handle_event_impl(instance_id, std::string(event_name), pdk);
  }

  const std::string& socket_path() const { return path_; }
  ConnectionPool& pool() { return *pool_; }
  // The last `serverPid` notification seen (only go-pluginserver sends them).
  std::optional<int64_t> server_pid() const { return server_pid_; }

 private:
  boost::asio::awaitable<InstanceStatus> start_instance_impl(std::string name, std::string config_json);
  boost::asio::awaitable<EventOutcome> handle_event_impl(int64_t instance_id, std::string event_name,
                                                         PdkHandler& pdk);
  uint32_t next_msgid();
  Clock::time_point call_deadline(Clock::time_point event_deadline) const;
  void note_server_pid(const Connection& conn);

  std::shared_ptr<ConnectionPool> pool_;
  std::string path_;
  ClientOptions options_;
  uint32_t msgid_ = 0;
  std::optional<int64_t> server_pid_;
};

// ---- the request parameters, exposed so that tests can compare them byte for byte with Kong's.

void write_start_instance_param(Writer w, std::string_view name, std::string_view config_json);
void write_handle_event_param(Writer w, int64_t instance_id, std::string_view event_name);
// The step method for a (non-terminal) PDK result: "plugin.StepError" for errors, otherwise
// `step`, the function's Step variant from the PDK table (also for nil results: Kong answers a
// nil get_consumer with StepConsumer).
std::string_view step_method(std::string_view step, const PdkResult& result);
// {EventId, Data}: Data absent for nil (and for an ok result holding null), the error string for
// errors, bodies (json binary) as bin, and Kong's fix_mmap for plugin.StepMultiMap: a string value
// becomes [v], `true` (valueless query flag) becomes [], an empty map is sent as a map (0x80).
void write_step_param(Writer w, int64_t event_id, const PdkResult& result,
                      std::string_view step = "plugin.Step");

}  // namespace gh::pluginserver::msgpack
