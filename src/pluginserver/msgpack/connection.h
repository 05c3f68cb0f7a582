// MessagePack-RPC transport to one plugin server: Unix stream socket connections, a per-worker
// pool of idle connections keyed by socket path, deadlines, and the error categories the
// instance layer acts on (kong-gateway-side.md §4.4, §5.1, §5.2, §5.8).
//
// Rules kept here: one request per write, strictly one outstanding request per connection (the JS
// server dies on pipelined input), `[2, method, params]` notifications skipped (serverPid
// remembered), responses matched by msgid. Nothing here is thread-safe: a pool and its connections
// belong to one io_context (one worker thread).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/deadline.h"
#include "net/idle_socket.h"
#include "pluginserver/msgpack/codec.h"
#include "pluginserver/wire/error.h"

namespace gh::pluginserver::msgpack {

using Clock = std::chrono::steady_clock;

// Errors: the wire layer's one type (pluginserver/wire/error.h); MsgPack:1 uses instance_gone,
// closed, timeout, transport, bad_reply and server_error.
using wire::ErrorKind;
using wire::RpcError;

// How often the server behind each socket path was (re)started, as the supervisor sees it: a
// start ends the connections made before it (their process is gone). Pools drop such
// connections instead of failing a request on them (which cost a failed attempt and an
// "instance lost" retry). Owned by whoever supervises the servers (plugins::PluginRuntime) and
// shared with the pools of every worker; thread-safe.
class RestartCounts {
 public:
  using Count = std::atomic<uint64_t>;
  // The count of `socket_path` (made on first use; it stays where it is while the owner lives).
  std::shared_ptr<const Count> of(const std::string& socket_path);
  void restarted(const std::string& socket_path);

 private:
  std::shared_ptr<Count> count(const std::string& socket_path);

  std::mutex mutex_;  // taken when a connection is made and when a server starts, never per request
  std::map<std::string, std::shared_ptr<Count>> counts_;
};

// `[0, msgid, method, [` — a request up to its one parameter (Kong always sends exactly one).
void write_request_head(Writer& w, uint32_t msgid, std::string_view method);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `restarts`: its server's restart count (null: restarts unknown, the connection never outdated).
  Connection(boost::asio::any_io_executor ex, std::string path, DecodeLimits limits,
             std::shared_ptr<const RestartCounts::Count> restarts);
  ~Connection();

  boost::asio::awaitable<void> connect(Clock::time_point deadline);

  // Starts a request in the connection's write buffer: `[0, msgid, method, [` — the caller then
  // writes exactly one parameter value with the returned Writer (Kong always sends one).
  Writer begin_request(uint32_t msgid, std::string_view method);
  // Sends the request in one write and reads until the response with `msgid`. Returns a Reader
  // positioned on the response's `result`, valid until the next begin_request(). Throws RpcError
  // (instance_gone / server_error when the response carries an error).
  boost::asio::awaitable<Reader> round_trip(uint32_t msgid, Clock::time_point deadline);

  // True when the connection can serve another request (no request in flight, nothing broken).
  bool reusable() const { return open_ && !busy_ && !broken_; }
  // True after the peer closed or reset the connection: idle siblings are likely dead too.
  bool peer_gone() const { return peer_gone_; }
  bool peer_alive() { return net::idle_socket_alive(socket_.native_handle()); }  // idle: nothing to read
  const std::string& path() const { return path_; }
  // Made before the latest restart of its server (RestartCounts::restarted).
  bool outdated() const { return restarts_ && generation_ != restarts_->load(std::memory_order_relaxed); }
  std::optional<int64_t> server_pid() const { return server_pid_; }
  void close();

 private:
  boost::asio::awaitable<void> send_request();
  bool handle_object(std::span<const uint8_t> obj, uint32_t msgid, Reader& result);
  [[noreturn]] void fail(ErrorKind kind, const std::string& what);
  [[noreturn]] void fail_io(const boost::system::error_code& ec, std::string_view during);

  // Arms the connection's deadline: the pending socket operation is cancelled when it passes.
  void watch(Clock::time_point deadline);

  boost::asio::local::stream_protocol::socket socket_;
  net::Deadline deadline_;
  std::string path_;
  StreamDecoder decoder_;
  std::string out_;  // request bytes, reused
  std::optional<int64_t> server_pid_;
  std::shared_ptr<const RestartCounts::Count> restarts_;  // the socket path's restart count
  uint64_t generation_;                                   // ... when this connection was made
  bool open_ = false, busy_ = false, broken_ = false, peer_gone_ = false;
};

// Idle connections per socket path, for one worker. Kong pools the same way (cosocket keepalive).
class ConnectionPool {
 public:
  // `restarts`: the supervisor's restart counts (null: restarts unknown, e.g. a server the caller
  // started itself).
  explicit ConnectionPool(boost::asio::any_io_executor ex, std::shared_ptr<RestartCounts> restarts = nullptr,
                          size_t max_idle_per_path = 128, DecodeLimits limits = {})
      : ex_(std::move(ex)), restarts_(std::move(restarts)), max_idle_(max_idle_per_path), limits_(limits) {}
  ~ConnectionPool();

  // An idle connection to `path`, or a new one connected before `deadline`. Throws RpcError.
  boost::asio::awaitable<std::shared_ptr<Connection>> acquire(const std::string& path,
                                                              Clock::time_point deadline);
  // Keeps `conn` for reuse when it is reusable and the idle list has room; closes it otherwise.
  // A connection the peer closed also drops the path's other idle connections.
  void release(std::shared_ptr<Connection> conn);
  size_t idle_count(const std::string& path) const;
  const boost::asio::any_io_executor& executor() const { return ex_; }

 private:
  boost::asio::any_io_executor ex_;
  std::shared_ptr<RestartCounts> restarts_;
  size_t max_idle_;
  DecodeLimits limits_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Connection>>> idle_;
};

// A connection borrowed from a pool; given back (or closed) when the lease ends.
class Lease {
 public:
  Lease(ConnectionPool& pool, std::shared_ptr<Connection> conn) : pool_(&pool), conn_(std::move(conn)) {}
  Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (conn_) pool_->release(std::move(conn_));
  }
  Connection* operator->() const { return conn_.get(); }
  Connection& operator*() const { return *conn_; }

 private:
  ConnectionPool* pool_;
  std::shared_ptr<Connection> conn_;
};

}  // namespace gh::pluginserver::msgpack
