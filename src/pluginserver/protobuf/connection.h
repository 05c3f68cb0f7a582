// One Unix-socket connection to a ProtoBuf:1 plugin server, and the per-io_context pool of idle
// ones. A connection carries one command at a time (a whole cmd_handle_event exchange included),
// like Kong's cosockets; between commands it may be parked in the pool.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/deadline.h"
#include "pluginserver/protobuf/errors.h"
#include "pluginserver/protobuf/framing.h"
#include "pluginserver/protobuf/pdk_codec.h"
#include "proto/pluginsocket.pb.h"

namespace gh::pluginserver::protobuf {

// Deadlines: every wait on the server (connect, write, next frame) must end within the timeout
// set by the user of the connection (net::Deadline: no timer syscall per operation; it cancels
// the socket when a wait overruns, and the wait then throws RpcError(timeout)). Time spent outside
// those waits (in the PDK handler) is not counted.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::any_io_executor executor, std::string socket_path, std::size_t max_frame_size);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Throws RpcError(connect) or RpcError(timeout).
  boost::asio::awaitable<void> connect();
  // The next frame (empty view = zero-length frame), valid until the next read. When the server
  // closes the connection between frames: RpcError(on_close); inside a frame: RpcError(protocol).
  boost::asio::awaitable<std::string_view> read_frame(ErrorKind on_close);
  // Writes everything appended to outbox() and empties it. RpcError(on_close) if the peer is gone.
  boost::asio::awaitable<void> flush(ErrorKind on_close);

  // Fast paths that need no coroutine (most PDK calls): the next frame if it is already
  // buffered, else nullopt (then co_await read_frame()); send the outbox now, false if the
  // socket did not take it all (then co_await flush()). Same errors as their async forms.
  std::optional<std::string_view> buffered_frame();
  bool send_now(ErrorKind on_close);

  std::string& outbox() { return outbox_; }
  PdkCodec& codec() { return codec_; }
  kong_plugin_protocol::RpcCall& rpc_call() { return rpc_call_; }
  kong_plugin_protocol::RpcReturn& rpc_return() { return rpc_return_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  const std::string& socket_path() const { return socket_path_; }
  // What the pool files it under (socket path, or path + hello for extended protocols).
  const std::string& pool_key() const { return pool_key_.empty() ? socket_path_ : pool_key_; }
  void set_pool_key(std::string key) { pool_key_ = std::move(key); }

  // True if another command can be sent: no error so far, open, nothing unread.
  bool reusable() const;
  // True if the server has not closed its end (or sent unsolicited bytes) while the connection
  // sat idle: one non-blocking peek, done when a pooled connection is taken out.
  bool peer_still_there();
  void close();

 private:
  void begin_wait() { deadline_.arm(timeout_, socket_); }
  void end_wait() { deadline_.disarm(); }
  RpcError failure(const boost::system::error_code& ec, ErrorKind on_close, std::string_view doing);

  boost::asio::local::stream_protocol::socket socket_;
  net::Deadline deadline_;
  std::string socket_path_;
  std::string pool_key_;
  std::chrono::milliseconds timeout_{60000};
  bool broken_ = false;  // an error happened: never reuse
  FrameReader reader_;
  std::string outbox_;
  PdkCodec codec_;
  kong_plugin_protocol::RpcCall rpc_call_;
  kong_plugin_protocol::RpcReturn rpc_return_;
};

// Idle connections per socket path, one pool per io_context (= per worker thread in gatehouse's
// thread-per-core layout). Destroyed with the io_context, closing what it holds.
class ConnectionPool : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;
  // Above the concurrency a worker sees: a connection closed on give_back is reopened by the
  // next event (connect + accept + a new thread in the C++ PDK's server: at wrk -c64 with 16,
  // ~6% of events paid that; strace of cpp-bench: 319 accept4/clone3 in 4,866 requests).
  static constexpr std::size_t kMaxIdlePerSocket = 128;

  explicit ConnectionPool(boost::asio::execution_context& context);
  static ConnectionPool& of(const boost::asio::any_io_executor& executor);

  // A healthy idle connection filed under `pool_key` (Connection::pool_key), or nullptr. Stale
  // ones are closed on the way.
  std::shared_ptr<Connection> take(const std::string& pool_key);
  // Parks `connection` if it is reusable and the pool for its path is not full; else closes it.
  void give_back(std::shared_ptr<Connection> connection);
  std::size_t idle(const std::string& socket_path);

 private:
  void shutdown() override;

  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Connection>>> idle_;
};

}  // namespace gh::pluginserver::protobuf
