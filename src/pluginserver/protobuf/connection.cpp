#include "pluginserver/protobuf/connection.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>

#include "net/idle_socket.h"

namespace gh::pluginserver::protobuf {
namespace {

namespace asio = boost::asio;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

bool is_disconnect(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::not_connected;
}

}  // namespace

Connection::Connection(asio::any_io_executor executor, std::string socket_path, std::size_t max_frame_size)
    : socket_(executor), deadline_(executor), socket_path_(std::move(socket_path)), reader_(max_frame_size) {}

Connection::~Connection() {
  close();
}

RpcError Connection::failure(const boost::system::error_code& ec, ErrorKind on_close,
                             std::string_view doing) {
  broken_ = true;
  if (deadline_.expired())
    return RpcError(ErrorKind::timeout, fmt::format("{}: no answer within {} ms while {}", socket_path_,
                                                    timeout_.count(), doing));
  if (is_disconnect(ec) && reader_.buffered() > 0)
    return RpcError(ErrorKind::protocol,
                    fmt::format("{}: connection closed inside a frame ({} bytes of it read)", socket_path_,
                                reader_.buffered()));
  if (is_disconnect(ec))
    return RpcError(on_close, fmt::format("{}: closed by the server while {}", socket_path_, doing));
  return RpcError(on_close, fmt::format("{}: {} while {}", socket_path_, ec.message(), doing));
}

asio::awaitable<void> Connection::connect() {
  begin_wait();
  auto [ec] = co_await socket_.async_connect(asio::local::stream_protocol::endpoint(socket_path_), nothrow);
  end_wait();
  if (!ec) socket_.non_blocking(true, ec);  // flush() sends directly, never blocking the thread
  if (ec) {
    broken_ = true;
    if (deadline_.expired()) throw RpcError(ErrorKind::timeout, socket_path_ + ": connect timed out");
    throw RpcError(ErrorKind::transport, socket_path_ + ": " + ec.message());
  }
}

std::optional<std::string_view> Connection::buffered_frame() {
  try {
    return reader_.next();
  } catch (const RpcError&) {
    broken_ = true;
    throw;
  }
}

asio::awaitable<std::string_view> Connection::read_frame(ErrorKind on_close) {
  for (;;) {
    if (auto frame = buffered_frame()) co_return *frame;
    auto space = reader_.prepare();
    begin_wait();
    auto [ec, received] = co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), nothrow);
    end_wait();
    if (ec) throw failure(ec, on_close, "waiting for a frame");
    reader_.commit(received);
  }
}

bool Connection::send_now(ErrorKind on_close) {
  // Replies are small and the socket buffer nearly always has room: a direct non-blocking send
  // avoids an async operation's trip through the scheduler (one epoll_wait per PDK call).
  boost::system::error_code ec;
  const std::size_t written = socket_.write_some(asio::buffer(outbox_), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return false;
  if (ec) {
    outbox_.clear();
    throw failure(ec, on_close, "writing");
  }
  outbox_.erase(0, written);  // usually everything
  return outbox_.empty();
}

asio::awaitable<void> Connection::flush(ErrorKind on_close) {
  if (send_now(on_close)) co_return;
  begin_wait();
  auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(outbox_), nothrow);
  end_wait();
  outbox_.clear();
  if (ec) throw failure(ec, on_close, "writing");
}

bool Connection::reusable() const {
  return !broken_ && socket_.is_open() && reader_.buffered() == 0;
}

bool Connection::peer_still_there() {
  if (!reusable()) return false;
  return net::idle_socket_alive(socket_.native_handle());
}

void Connection::close() {
  broken_ = true;
  boost::system::error_code ignored;
  deadline_.stop();
  socket_.close(ignored);
}

asio::execution_context::id ConnectionPool::id;

ConnectionPool::ConnectionPool(asio::execution_context& context)
    : asio::execution_context::service(context) {}

ConnectionPool& ConnectionPool::of(const asio::any_io_executor& executor) {
  return asio::use_service<ConnectionPool>(asio::query(executor, asio::execution::context));
}

std::shared_ptr<Connection> ConnectionPool::take(const std::string& pool_key) {
  std::lock_guard lock(mutex_);
  auto it = idle_.find(pool_key);
  if (it == idle_.end()) return nullptr;
  auto& connections = it->second;
  while (!connections.empty()) {
    auto connection = std::move(connections.back());
    connections.pop_back();
    if (connection->peer_still_there()) return connection;
    connection->close();
  }
  return nullptr;
}

void ConnectionPool::give_back(std::shared_ptr<Connection> connection) {
  if (!connection->reusable()) {
    connection->close();
    return;
  }
  std::lock_guard lock(mutex_);
  auto& connections = idle_[connection->pool_key()];
  if (connections.size() >= kMaxIdlePerSocket) {
    connection->close();
    return;
  }
  connections.push_back(std::move(connection));
}

std::size_t ConnectionPool::idle(const std::string& socket_path) {
  std::lock_guard lock(mutex_);
  auto it = idle_.find(socket_path);
  return it == idle_.end() ? 0 : it->second.size();
}

void ConnectionPool::shutdown() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

}  // namespace gh::pluginserver::protobuf
