#include "pluginserver/msgpack/connection.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/log.h"
#include "common/strings.h"
#include "net/idle_socket.h"

namespace gh::pluginserver::msgpack {

namespace asio = boost::asio;
using boost::system::error_code;

void write_request_head(Writer& w, uint32_t msgid, std::string_view method) {
  w.array_header(4);
  w.unsigned_integer(0);
  w.unsigned_integer(msgid);
  w.str(method);
  w.array_header(1);
}

std::shared_ptr<RestartCounts::Count> RestartCounts::count(const std::string& socket_path) {
  std::lock_guard lock(mutex_);
  auto& count = counts_[socket_path];
  if (!count) count = std::make_shared<Count>(0);
  return count;
}

std::shared_ptr<const RestartCounts::Count> RestartCounts::of(const std::string& socket_path) {
  return count(socket_path);
}

void RestartCounts::restarted(const std::string& socket_path) {
  count(socket_path)->fetch_add(1, std::memory_order_relaxed);
}

Connection::Connection(asio::any_io_executor ex, std::string path, DecodeLimits limits,
                       std::shared_ptr<const RestartCounts::Count> restarts)
    : socket_(ex),
      deadline_(ex),
      path_(std::move(path)),
      decoder_(limits),
      restarts_(std::move(restarts)),
      generation_(restarts_ ? restarts_->load(std::memory_order_relaxed) : 0) {}

Connection::~Connection() {
  close();
}

void Connection::close() {
  open_ = false;
  error_code ignored;
  socket_.close(ignored);
  deadline_.stop();
}

void Connection::fail(ErrorKind kind, const std::string& what) {
  broken_ = true;
  throw RpcError(kind, "plugin server " + path_ + ": " + what);
}

void Connection::fail_io(const error_code& ec, std::string_view during) {
  if (deadline_.expired()) fail(ErrorKind::timeout, std::string(during) + " timed out");
  const bool peer = ec == asio::error::eof || ec == asio::error::connection_reset ||
                    ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
  if (peer) {
    peer_gone_ = true;
    fail(ErrorKind::closed, std::string(during) + ": connection closed by the server");
  }
  fail(ErrorKind::transport, std::string(during) + ": " + ec.message());
}

void Connection::watch(Clock::time_point deadline) {
  // net::Deadline takes a duration; a day stands for "no deadline" without overflowing the clock.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  deadline_.arm(
      std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(std::chrono::hours(24))),
      socket_);
}

// ---- requests

asio::awaitable<void> Connection::connect(Clock::time_point deadline) {
  watch(deadline);
  open_ = true;
  auto [ec] = co_await socket_.async_connect(asio::local::stream_protocol::endpoint(path_),
                                             asio::as_tuple(asio::use_awaitable));
  deadline_.disarm();
  if (ec) {
    if (deadline_.expired()) fail(ErrorKind::timeout, "connect timed out");
    fail(ErrorKind::transport, "connect: " + ec.message());
  }
  socket_.non_blocking(true, ec);  // for send_request()'s immediate write
  if (ec) fail(ErrorKind::transport, "non-blocking mode: " + ec.message());
}

// A request is small and the socket is non-blocking: one immediate send() nearly always takes it
// all, which spares a trip through the event loop per call (an epoll_wait). The rest, if any, is
// written asynchronously.
asio::awaitable<void> Connection::send_request() {
  error_code ec;
  size_t sent = socket_.write_some(asio::buffer(out_), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    sent = 0;
  } else if (ec) {
    fail_io(ec, "write");
  }
  if (sent == out_.size()) co_return;
  auto [wec, n] = co_await asio::async_write(socket_, asio::buffer(out_.data() + sent, out_.size() - sent),
                                             asio::as_tuple(asio::use_awaitable));
  if (wec) fail_io(wec, "write");
}

Writer Connection::begin_request(uint32_t msgid, std::string_view method) {
  out_.clear();
  Writer w(out_);
  write_request_head(w, msgid, method);
  return w;
}

asio::awaitable<Reader> Connection::round_trip(uint32_t msgid, Clock::time_point deadline) {
  if (!reusable()) fail(ErrorKind::transport, "connection not usable");
  busy_ = true;
  watch(deadline);
  struct Disarm {
    net::Deadline& d;
    ~Disarm() { d.disarm(); }
  } disarm_on_exit{deadline_};
  co_await send_request();
  Reader result({});
  while (true) {
    // The deadline covers everything the server sends before its answer: a server streaming
    // notifications keeps every read completing at once, so the timer's cancel (which only hits
    // an operation in flight) is not enough on its own.
    if (deadline_.expired() || Clock::now() >= deadline) fail(ErrorKind::timeout, "read timed out");
    std::optional<std::span<const uint8_t>> obj;
    try {
      obj = decoder_.next();
    } catch (const DecodeError& e) {
      fail(ErrorKind::bad_reply, e.what());
    }
    if (obj) {
      if (handle_object(*obj, msgid, result)) break;
      continue;
    }
    auto space = decoder_.prepare();
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(space.data(), space.size()),
                                                    asio::as_tuple(asio::use_awaitable));
    if (ec) fail_io(ec, "read");
    decoder_.commit(n);
  }
  busy_ = false;
  if (decoder_.buffered() > 0) {
    // Kong reads with a fresh unpacker per call, so bytes after a response have no meaning.
    spdlog::warn("plugin server {}: {} unexpected bytes after a response; dropping the connection", path_,
                 decoder_.buffered());
    broken_ = true;
  }
  co_return result;
}

// One object from the server: a notification (skipped) or the response. Returns true with `result`
// positioned on the response's result. Throws RpcError for error responses and protocol violations.
bool Connection::handle_object(std::span<const uint8_t> obj, uint32_t msgid, Reader& result) {
  try {
    Reader r(obj, decoder_.limits().max_depth);
    const uint32_t n = r.read_array();
    const int64_t type = r.read_int();
    if (type == 2 && n == 3) {
      std::string_view method = r.read_str();
      if (method == "serverPid" && r.peek() == Type::integer) {
        int64_t pid = r.read_int();
        if (server_pid_ != pid) spdlog::info("plugin server {}: serverPid {}", path_, pid);
        server_pid_ = pid;
      }
      return false;
    }
    if (type != 1 || n != 4) fail(ErrorKind::bad_reply, "expected a response [1, msgid, error, result]");
    const int64_t id = r.read_int();
    if (id != msgid)
      fail(ErrorKind::bad_reply,
           "response msgid " + std::to_string(id) + " for request " + std::to_string(msgid));
    if (!r.try_nil()) {
      busy_ = false;  // a complete response: the connection stays usable
      // Any other value is the message as JSON; its strings may be invalid UTF-8 (replaced, never thrown).
      std::string message = r.peek() == Type::str
                                ? std::string(r.read_str())
                                : r.read_value().dump(-1, ' ', false, json::error_handler_t::replace);
      if (to_lower(message).find("no plugin instance") != std::string::npos)
        throw RpcError(ErrorKind::instance_gone, message);
      throw RpcError(ErrorKind::server_error, message);
    }
    result = Reader(obj.subspan(r.position()), decoder_.limits().max_depth);
    return true;
  } catch (const DecodeError& e) {
    fail(ErrorKind::bad_reply, e.what());
  }
}

// ---- pool

ConnectionPool::~ConnectionPool() {
  for (auto& [path, conns] : idle_)
    for (auto& c : conns) c->close();
}

asio::awaitable<std::shared_ptr<Connection>> ConnectionPool::acquire(const std::string& path,
                                                                     Clock::time_point deadline) {
  if (auto it = idle_.find(path); it != idle_.end()) {
    while (!it->second.empty()) {
      auto conn = std::move(it->second.back());
      it->second.pop_back();
      // Not one whose server has restarted since, nor one a server that died (and is not
      // restarted yet) has closed: an event written there fails, though it never reached a server.
      if (!conn->outdated() && conn->peer_alive()) co_return conn;
      conn->close();
    }
  }
  auto conn = std::make_shared<Connection>(ex_, path, limits_, restarts_ ? restarts_->of(path) : nullptr);
  co_await conn->connect(deadline);
  co_return conn;
}

void ConnectionPool::release(std::shared_ptr<Connection> conn) {
  if (conn->peer_gone()) {
    // A server that closed one connection (restart, crash) has usually closed them all.
    if (auto it = idle_.find(conn->path()); it != idle_.end()) {
      for (auto& c : it->second) c->close();
      it->second.clear();
    }
  }
  auto& list = idle_[conn->path()];
  if (conn->reusable() && !conn->outdated() && list.size() < max_idle_)
    list.push_back(std::move(conn));
  else
    conn->close();
}

size_t ConnectionPool::idle_count(const std::string& path) const {
  auto it = idle_.find(path);
  return it == idle_.end() ? 0 : it->second.size();
}

}  // namespace gh::pluginserver::msgpack
