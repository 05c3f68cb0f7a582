// Supervision of plugin-server processes (kong-gateway-side.md §2, done better than Kong):
// exec semantics, own process group, parent-death signal, output re-logged per line as
// "[<name>:<pid>] <line>", readiness = the Unix socket accepts, restarts with exponential
// backoff, SIGTERM → grace → SIGKILL on stop, reloads that restart only changed servers.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "pluginserver/config.h"

namespace gh::pluginserver {

struct SupervisorTiming {
  // The first restart is immediate; a server that dies again within `stable_after` of its start
  // is in a crash loop and waits backoff_initial, then twice as long per crash, up to the cap.
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_cap{30000};
  std::chrono::milliseconds stable_after{60000};  // a run this long makes the next restart immediate again
  std::chrono::milliseconds stop_grace{5000};     // SIGTERM → SIGKILL
  std::chrono::milliseconds probe_interval{100};  // socket connect attempts while starting
};

// Every child-process operation runs on `io` (which must be run by one thread that lives as long
// as the servers: the parent-death signal is tied to the thread that forked). The public methods
// are thread-safe; the blocking ones (wait_ready, stop) must not be called on that thread.
class Supervisor {
 public:
  Supervisor(boost::asio::io_context& io, std::vector<ServerConfig> servers, SupervisorTiming timing = {});
  ~Supervisor();  // kills what is still running (call stop() first for a graceful stop)
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Called on the io thread whenever a new process of a managed server is spawned (the first one,
  // restarts, reloads), before its socket is probed: what the earlier process held is gone. Set it
  // before start().
  void on_process_started(std::function<void(const ServerConfig& server)> callback);
  void start();  // spawns every server that has a start_cmd; probes every socket
  // Blocks until every server's socket accepts connections; false (and an error log naming each
  // server that is not ready, with its state and last exit) if `timeout` passes first.
  bool wait_ready(std::chrono::milliseconds timeout);
  void stop();  // SIGTERM to each process group, SIGKILL after the grace; blocks until all reaped
  void apply(std::vector<ServerConfig> servers);  // reload: restarts only servers whose commands changed
  // [{name, state, pid, restarts, last_exit, last_exit_code, socket, ready, managed, start_cmd}]; state is
  // one of starting, running, restarting, stopping, stopped, external.
  nlohmann::json status() const;
  bool is_ready(std::string_view server) const;
  // Holds the calling coroutine (on its own executor, without blocking the thread) until
  // `server` is ready: true at once if it is, false if `deadline` passes first, if the server is
  // unknown, or if kMaxReadyWaiters requests wait for it already (memory stays bounded).
  boost::asio::awaitable<bool> await_ready(std::string_view server,
                                           std::chrono::steady_clock::time_point deadline);
  static constexpr std::size_t kMaxReadyWaiters = 1024;  // per server, all workers together
  // A connect to the server's socket was just refused while it counted as ready: it has died a
  // moment ago (the supervisor hears of the exit a little later). Looks at the socket now, so
  // that await_ready() holds until the new process listens instead of answering true at once.
  void connect_refused(std::string_view server);
  // Why the gateway gives up on a server's process.
  enum class Fault {
    timeout,         // it did not answer within pluginserver_<name>_timeout
    protocol_error,  // it sent something that is not the protocol (malformed frame, junk)
  };
  // Kills the server (it is then restarted), logging what happened and `detail` (the gateway's
  // error). A process that has exited already is left to the supervisor, which logs its exit.
  void report_fault(std::string_view server, Fault fault, std::string_view detail);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gh::pluginserver
