#include "pluginserver/protobuf/client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <limits>
#include <optional>

#include "pdk/table.h"
#include "pluginserver/protobuf/connection.h"
#include "pluginserver/protobuf/methods.h"

namespace gh::pluginserver::protobuf {
namespace {

namespace asio = boost::asio;
constexpr std::size_t kMaxMethodName = 256;

std::int32_t wire_instance_id(std::int64_t id) {
  if (id < std::numeric_limits<std::int32_t>::min() || id > std::numeric_limits<std::int32_t>::max())
    throw std::out_of_range("instance id " + std::to_string(id) + " does not fit ProtoBuf:1's int32");
  return static_cast<std::int32_t>(id);
}

// A method-name frame is raw ASCII (e.g. "kong.request.get_header"); anything else means the
// stream is out of step or the peer is not a plugin server.
void check_method_name(std::string_view name) {
  bool printable = name.size() <= kMaxMethodName;
  for (char c : name) printable = printable && c > ' ' && c < 0x7f;
  if (!printable)
    throw RpcError(ErrorKind::protocol, "the server sent a frame that is not a PDK method name");
}

}  // namespace

// Returns the connection to the pool when the operation completed cleanly, closes it otherwise
// (an exception, a timeout, or an event ended by kong.response.exit).
class Client::Lease {
 public:
  Lease(ConnectionPool& pool, std::shared_ptr<Connection> connection)
      : pool_(pool), connection_(std::move(connection)) {}
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() {
    if (keep_)
      pool_.give_back(std::move(connection_));
    else
      connection_->close();
  }
  Connection& operator*() const { return *connection_; }
  void keep() { keep_ = true; }

 private:
  ConnectionPool& pool_;
  std::shared_ptr<Connection> connection_;
  bool keep_ = false;
};

Client::Client(asio::any_io_executor executor, std::string socket_path, std::chrono::milliseconds timeout,
               std::size_t max_frame_size)
    : executor_(std::move(executor)),
      socket_path_(std::move(socket_path)),
      timeout_(timeout),
      max_frame_size_(max_frame_size) {}

Client::Client(asio::any_io_executor executor, std::string socket_path, std::chrono::milliseconds timeout,
               std::string hello, EventExtension& extension)
    : Client(std::move(executor), std::move(socket_path), timeout) {
  hello_ = std::move(hello);
  extension_ = &extension;
}

asio::awaitable<std::shared_ptr<Connection>> Client::checkout() {
  auto connection = ConnectionPool::of(executor_).take(pool_key());
  if (!connection) {
    connection = std::make_shared<Connection>(executor_, socket_path_, max_frame_size_);
    connection->set_timeout(timeout_);
    co_await connection->connect();
    if (!hello_.empty()) {
      connection->set_pool_key(pool_key());
      append_frame(connection->outbox(), hello_);  // goes out with the first command
    }
  }
  connection->set_timeout(timeout_);
  co_return connection;
}

asio::awaitable<void> Client::send_call(Connection& conn, std::int64_t sequence, ErrorKind on_close) {
  conn.rpc_call().set_sequence(sequence);
  append_frame(conn.outbox(), conn.rpc_call(), max_frame_size_);
  co_await conn.flush(on_close);
}

asio::awaitable<void> Client::read_return(Connection& conn, std::int64_t sequence, ErrorKind on_close) {
  const std::string_view frame = co_await conn.read_frame(on_close);
  parse_return(conn, frame, sequence);
}

void Client::parse_return(Connection& conn, std::string_view frame, std::int64_t sequence) {
  auto& ret = conn.rpc_return();
  if (!ret.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
    throw RpcError(ErrorKind::protocol, socket_path_ + ": undecodable RpcReturn");
  if (ret.sequence() != sequence)
    throw RpcError(ErrorKind::protocol,
                   fmt::format("{}: RpcReturn sequence {} answers a call with sequence {}", socket_path_,
                               ret.sequence(), sequence));
}

asio::awaitable<InstanceStatus> Client::start_instance(std::string name, std::string config_json) {
  Lease conn(ConnectionPool::of(executor_), co_await checkout());
  const std::int64_t sequence = ++last_sequence_;
  auto& call = (*conn).rpc_call();
  call.Clear();
  auto* start = call.mutable_cmd_start_instance();
  start->set_name(std::move(name));
  start->set_config(std::move(config_json));
  co_await send_call(*conn, sequence, ErrorKind::rejected);
  // An extension's pseudo-call may come first; its method frame can never parse as an RpcReturn.
  std::optional<std::string> start_args;
  std::string_view frame = co_await (*conn).read_frame(ErrorKind::rejected);
  if (extension_ != nullptr && !extension_->start_call().empty() && frame == extension_->start_call()) {
    const std::string_view args = co_await (*conn).read_frame(ErrorKind::rejected);
    start_args.emplace(args);
    frame = co_await (*conn).read_frame(ErrorKind::rejected);
  }
  parse_return(*conn, frame, sequence);
  const auto& ret = (*conn).rpc_return();
  if (!ret.has_instance_status())
    throw RpcError(ErrorKind::protocol, socket_path_ + ": StartInstance answered without instance_status");
  InstanceStatus status{ret.instance_status().name(), ret.instance_status().instance_id(),
                        ret.instance_status().started_at()};
  if (extension_ != nullptr)
    extension_->instance_started(start->name(), status.id, start_args ? &*start_args : nullptr);
  conn.keep();
  co_return status;
}

asio::awaitable<void> Client::close_instance(std::int64_t instance_id) {
  Lease conn(ConnectionPool::of(executor_), co_await checkout());
  const std::int64_t sequence = ++last_sequence_;
  auto& call = (*conn).rpc_call();
  call.Clear();
  call.mutable_cmd_close_instance()->set_instance_id(wire_instance_id(instance_id));
  co_await send_call(*conn, sequence, ErrorKind::rejected);
  co_await read_return(*conn, sequence, ErrorKind::rejected);
  conn.keep();
}

asio::awaitable<bool> Client::serve_pdk_call(Connection& conn, const std::string& method, PdkHandler& pdk) {
  auto buffered = conn.buffered_frame();
  std::string_view args;  // an if, not ?:, around the co_await (tests/lint/check_coroutines.py)
  if (buffered)
    args = *buffered;
  else
    args = co_await conn.read_frame(ErrorKind::instance_gone);
  const PdkMethod* spec = find_pdk_method(method);
  if (spec == nullptr) {
    // Kong aborts the event (`method "<m>" not found`); an empty reply is the zero value every
    // go-pdk getter accepts, so the plugin carries on, and the operator sees the warning.
    spdlog::warn("ProtoBuf:1 {}: unknown PDK method \"{}\" answered with nil", socket_path_, method);
    append_frame(conn.outbox(), std::string_view());
    co_await conn.flush(ErrorKind::instance_gone);
    co_return true;
  }
  if (spec->function) pdk.tally(*spec->function, pdk::Tally::round_trip);  // every ProtoBuf:1 call waits
  nlohmann::json arguments = conn.codec().decode_args(*spec, args);
  const PdkResult result = co_await pdk.run(spec->function, spec->name, std::move(arguments));
  if (result.status == PdkResult::Status::terminal) co_return false;
  if (result.status == PdkResult::Status::error)
    spdlog::debug("ProtoBuf:1 {}: {} failed: {} (answered as nil)", socket_path_, spec->name, result.error);
  conn.codec().encode_result(*spec, result, conn.outbox());
  if (!conn.send_now(ErrorKind::instance_gone)) co_await conn.flush(ErrorKind::instance_gone);
  co_return true;
}

asio::awaitable<void> Client::serve_extended_call(Connection& conn, const std::string& method,
                                                  PdkHandler& pdk, std::int64_t instance_id,
                                                  std::string_view event_name, EventOutcome& outcome) {
  auto buffered = conn.buffered_frame();
  std::string_view args;  // an if, not ?:, around the co_await (tests/lint/check_coroutines.py)
  if (buffered)
    args = *buffered;
  else
    args = co_await conn.read_frame(ErrorKind::instance_gone);
  if (extension_->serve_own_call(instance_id, event_name, method, args)) co_return;
  const PdkMethod* spec = find_pdk_method(method);
  const bool write = spec != nullptr && spec->result == ResultShape::none;  // never answered
  if (spec == nullptr || outcome.terminated) {
    // Unknown (as in serve_pdk_call), or after kong.response.exit: not run; a call gets the nil
    // reply, a write is dropped.
    if (spec == nullptr)
      spdlog::warn("{} {}: unknown PDK method \"{}\" answered with nil", hello_, socket_path_, method);
    if (write) co_return;
    ++outcome.answered_calls;
    if (spec != nullptr && spec->function) pdk.tally(*spec->function, pdk::Tally::round_trip);
    append_frame(conn.outbox(), std::string_view());
    co_await conn.flush(ErrorKind::instance_gone);
    co_return;
  }
  nlohmann::json arguments = conn.codec().decode_args(*spec, args);
  const PdkResult result = co_await pdk.run(spec->function, spec->name, std::move(arguments));
  const bool terminal = result.status == PdkResult::Status::terminal;
  outcome.terminated = terminal;
  if (result.status == PdkResult::Status::error)
    spdlog::debug("{} {}: {} failed: {} (answered as nil)", hello_, socket_path_, spec->name, result.error);
  if (write) co_return;
  ++outcome.answered_calls;
  if (spec->function) pdk.tally(*spec->function, pdk::Tally::round_trip);
  if (terminal)
    append_frame(conn.outbox(), std::string_view());
  else
    conn.codec().encode_result(*spec, result, conn.outbox());
  if (!conn.send_now(ErrorKind::instance_gone)) co_await conn.flush(ErrorKind::instance_gone);
}

asio::awaitable<EventOutcome> Client::handle_event(std::int64_t instance_id, std::string_view event_name,
                                                   PdkHandler& pdk) {
  Lease conn(ConnectionPool::of(executor_), co_await checkout());
  const std::int64_t sequence = ++last_sequence_;
  auto& call = (*conn).rpc_call();
  call.Clear();
  auto* event = call.mutable_cmd_handle_event();
  event->set_instance_id(wire_instance_id(instance_id));
  event->set_event_name(std::string(event_name));
  if (extension_ != nullptr) {
    // The extension's frames follow the RpcCall in the same write (the outbox is flushed with it).
    std::string frames;
    co_await extension_->event_frames(instance_id, event_name, (*conn).codec(), pdk, frames);
    (*conn).rpc_call().set_sequence(sequence);
    append_frame((*conn).outbox(), (*conn).rpc_call(), max_frame_size_);
    (*conn).outbox() += frames;
    co_await (*conn).flush(ErrorKind::instance_gone);
  } else {
    co_await send_call(*conn, sequence, ErrorKind::instance_gone);
  }

  EventOutcome outcome;
  std::string method;
  for (;;) {
    const std::string_view frame = co_await (*conn).read_frame(ErrorKind::instance_gone);
    if (frame.empty()) break;  // the handler returned
    check_method_name(frame);
    method.assign(frame);  // the args frame may move the read buffer
    ++outcome.pdk_calls;
    if (extension_ != nullptr) {
      co_await serve_extended_call(*conn, method, pdk, instance_id, event_name, outcome);
      continue;
    }
    const bool answered = co_await serve_pdk_call(*conn, method, pdk);  // a local: GCC PR 106188
    if (!answered) {
      // kong.response.exit: go-pdk waits for a reply it will not get, then closes; closing our
      // end (the Lease does) ends its handler. Kong does the same at the end of the request.
      outcome.terminated = true;
      co_return outcome;
    }
  }
  try {
    co_await read_return(*conn, sequence, ErrorKind::rejected);
  } catch (const RpcError& e) {
    // The handler did run to its end; re-running it (as Kong's "closed" → retry would) could
    // duplicate its effects. Report it done; the connection is dropped.
    if (e.kind() != ErrorKind::rejected) throw;
    spdlog::warn("ProtoBuf:1 {}: closed before the RpcReturn of a finished {} event", socket_path_,
                 event_name);
    co_return outcome;
  }
  conn.keep();
  co_return outcome;
}

}  // namespace gh::pluginserver::protobuf
