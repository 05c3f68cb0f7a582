#include "redis/client.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <unordered_map>

#include "net/byte_stream.h"
#include "net/deadline.h"
#include "tls/upstream_tls.h"

namespace gh::redis {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Calls one connection may hold unanswered; more are refused (bounded memory when Redis stalls).
constexpr size_t kMaxPending = 10000;
using Clock = std::chrono::steady_clock;

// One caller's pipelined commands: it sleeps on `timer` (never due: a wake-up signal) until its
// replies are in or the connection fails; the connection's one deadline enforces `expires_at`.
struct Call {
  Call(const asio::any_io_executor& executor, size_t expected_replies, std::string handshake_step = {})
      : timer(executor, Clock::time_point::max()),
        expected(expected_replies),
        handshake(std::move(handshake_step)) {}
  asio::steady_timer timer;
  Clock::time_point expires_at = Clock::time_point::max();
  size_t expected;
  std::string handshake;         // AUTH/SELECT sent by the connection itself: what failing it means
  ErrorSink on_error = nullptr;  // a call nobody waits for: where its failure goes
  std::vector<Reply> replies;
  std::string error;
  bool done = false;

  void finish(std::string why) {
    if (done) return;
    done = true;
    if (on_error && !why.empty()) on_error(why);
    error = std::move(why);
    timer.cancel();
  }
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::any_io_executor executor, Options options)
      : executor_(std::move(executor)),
        options_(std::move(options)),
        resolver_(executor_),
        deadline_(executor_) {
    if (options_.ssl) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      tls_->set_default_verify_paths();
    }
  }

  asio::awaitable<Result> execute(std::string commands, size_t count) {
    if (pending_.size() >= kMaxPending) co_return Result{{}, "too many pending Redis commands"};
    auto self = shared_from_this();
    auto call = std::make_shared<Call>(executor_, count);
    enqueue(call, std::move(commands));
    co_await call->timer.async_wait(kTuple);
    if (!call->done) fail(generation_, "timeout");
    co_return Result{std::move(call->replies), std::move(call->error)};
  }

  // The same without waiting: failures (the connection's, or an error reply) go to `on_error`.
  void send_detached(std::string commands, size_t count, ErrorSink on_error) {
    if (pending_.size() >= kMaxPending) return on_error("too many pending Redis commands");
    auto call = std::make_shared<Call>(executor_, count);
    call->on_error = on_error;
    enqueue(std::move(call), std::move(commands));
  }

  // Queues a call's commands: they leave with the next flush, once the connection is open (a
  // closed one starts connecting).
  void enqueue(std::shared_ptr<Call> call, std::string commands) {
    watch(*call);
    pending_.push_back(std::move(call));
    outgoing_ += commands;
    if (state_ == State::closed) {
      state_ = State::connecting;
      asio::co_spawn(executor_, connect(generation_), asio::detached);
    } else if (state_ == State::open) {
      schedule_flush();
    }
  }

  // net::Deadline's target: the oldest call is overdue.
  void cancel(boost::system::error_code&) { fail(generation_, "timeout"); }

 private:
  enum class State { closed, connecting, open };

  // One timer per connection, not per call (a call's own timer would be the reactor's earliest
  // and cost a timerfd update each): calls are answered in order and all have the same timeout,
  // so the deadline is the oldest pending call's; re-arming it later is an assignment.
  void watch(Call& call) {
    const auto timeout = std::chrono::milliseconds(std::max(1, options_.timeout_ms));
    call.expires_at = Clock::now() + timeout;
    if (!armed_) {
      deadline_.arm(timeout, *this);
      armed_ = true;
    }
  }

  void rearm() {
    for (const auto& call : pending_) {
      if (call->expires_at == Clock::time_point::max())
        continue;  // AUTH/SELECT: the caller's deadline covers it
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(call->expires_at - Clock::now());
      deadline_.arm(std::max(left, std::chrono::milliseconds(0)), *this);
      return;
    }
    deadline_.disarm();
    armed_ = false;
  }

  // Commands queued during one turn of the event loop (by every request of the worker) go out
  // together in one write: the pipelining that keeps Redis's cost per request low.
  void schedule_flush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(executor_, [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->send();
    });
  }

  asio::awaitable<void> connect(unsigned generation) {
    auto self = shared_from_this();
    tcp::socket socket(executor_);
    stream_ = tls_ ? std::make_shared<net::ByteStream>(std::move(socket), *tls_, nullptr)
                   : std::make_shared<net::ByteStream>(std::move(socket));
    auto stream = stream_;
    auto [resolve_ec, endpoints] = co_await resolver_.async_resolve(
        options_.host, std::to_string(options_.port), tcp::resolver::numeric_service, kTuple);
    if (generation != generation_) co_return;
    if (resolve_ec) co_return fail(generation, "failed to connect to Redis: " + resolve_ec.message());
    auto [connect_ec, endpoint] = co_await asio::async_connect(stream->socket(), endpoints, kTuple);
    if (generation != generation_) co_return;
    if (connect_ec) co_return fail(generation, "failed to connect to Redis: " + connect_ec.message());
    boost::system::error_code ignored;
    stream->socket().set_option(tcp::no_delay(true), ignored);
    if (auto* tls = stream->tls_stream()) {
      const std::string& name = options_.server_name.empty() ? options_.host : options_.server_name;
      tls::UpstreamTls::prepare(tls->native_handle(), name, options_.ssl_verify);
      auto [handshake_ec] = co_await tls->async_handshake(asio::ssl::stream_base::client, kTuple);
      if (generation != generation_) co_return;
      if (handshake_ec)
        co_return fail(generation, "failed to do SSL handshake with Redis: " + handshake_ec.message());
    }
    queue_handshake();
    state_ = State::open;
    asio::co_spawn(executor_, read_loop(generation), asio::detached);
    send();
  }

  // AUTH and SELECT go first on a new connection, answered before any caller's commands.
  void queue_handshake() {
    std::string hello;
    if (options_.database != 0) {
      encode_command(hello, {"SELECT", std::to_string(options_.database)});
      pending_.push_front(std::make_shared<Call>(executor_, 1, "failed to change Redis database: "));
    }
    if (!options_.password.empty()) {
      std::string auth;
      if (options_.username.empty())
        encode_command(auth, {"AUTH", options_.password});
      else
        encode_command(auth, {"AUTH", options_.username, options_.password});
      hello.insert(0, auth);
      pending_.push_front(std::make_shared<Call>(executor_, 1, "failed to auth Redis: "));
    }
    outgoing_.insert(0, hello);
  }

  // Writes what is queued: right away when the socket takes it (plain TCP), else in a writer.
  void send() {
    if (state_ != State::open || writing_ || outgoing_.empty()) return;
    if (!stream_->is_tls()) {
      std::vector<asio::const_buffer> buffers{asio::buffer(outgoing_)};
      boost::system::error_code ec;
      size_t sent = stream_->write_now(buffers, ec);
      if (ec) return fail(generation_, "failed to send to Redis: " + ec.message());
      outgoing_.erase(0, sent);
      if (outgoing_.empty()) return;
    }
    writing_ = true;
    asio::co_spawn(executor_, write_loop(generation_), asio::detached);
  }

  asio::awaitable<void> write_loop(unsigned generation) {
    auto self = shared_from_this();
    auto stream = stream_;
    while (generation == generation_ && !outgoing_.empty()) {
      std::string chunk;
      chunk.swap(outgoing_);
      auto [ec, written] = co_await stream->write(asio::buffer(chunk));
      if (generation != generation_) co_return;
      if (ec) co_return fail(generation, "failed to send to Redis: " + ec.message());
    }
    writing_ = false;
  }

  asio::awaitable<void> read_loop(unsigned generation) {
    auto self = shared_from_this();
    auto stream = stream_;
    std::array<char, 16384> buffer;
    while (generation == generation_) {
      auto [ec, n] = co_await stream->read_some(asio::buffer(buffer));
      if (generation != generation_) co_return;
      if (ec)
        co_return fail(generation, ec == asio::error::eof ? "connection closed by Redis" : ec.message());
      incoming_.append(buffer.data(), n);
      if (!consume_replies(generation)) co_return;
    }
  }

  // Hands every complete reply in `incoming_` to its call; false when the connection failed.
  bool consume_replies(unsigned generation) {
    size_t offset = 0;
    while (offset < incoming_.size()) {
      Reply reply;
      ParseResult parsed = parse_reply(std::string_view(incoming_).substr(offset), reply);
      if (parsed.status == ParseStatus::incomplete) break;
      if (parsed.status == ParseStatus::invalid) {
        fail(generation, "invalid reply from Redis: " + parsed.error);
        return false;
      }
      offset += parsed.consumed;
      if (!deliver(std::move(reply))) return false;
    }
    incoming_.erase(0, offset);
    if (incoming_.size() > kMaxReply) {
      fail(generation, "invalid reply from Redis: reply too large");
      return false;
    }
    return true;
  }

  bool deliver(Reply reply) {
    if (pending_.empty()) {
      fail(generation_, "invalid reply from Redis: nothing was asked");
      return false;
    }
    auto call = pending_.front();
    call->replies.push_back(std::move(reply));
    if (call->replies.size() < call->expected) return true;
    pending_.pop_front();
    if (!call->handshake.empty()) {
      if (call->replies.front().is_error()) {
        fail(generation_, call->handshake + call->replies.front().text);
        return false;
      }
      return true;
    }
    if (call->on_error)
      for (const auto& reply : call->replies)
        if (reply.is_error()) call->on_error(reply.text);
    call->finish("");
    rearm();
    return true;
  }

  // Drops the connection and fails every call on it; the next call connects again.
  void fail(unsigned generation, const std::string& why) {
    if (generation != generation_) return;
    ++generation_;
    state_ = State::closed;
    deadline_.disarm();
    armed_ = false;
    writing_ = false;
    outgoing_.clear();
    incoming_.clear();
    resolver_.cancel();
    if (stream_) {
      boost::system::error_code ignored;
      stream_->socket().close(ignored);
      stream_.reset();
    }
    auto calls = std::move(pending_);
    pending_.clear();
    for (auto& call : calls) call->finish(why);
  }

  asio::any_io_executor executor_;
  Options options_;
  tcp::resolver resolver_;
  std::unique_ptr<asio::ssl::context> tls_;
  State state_ = State::closed;
  unsigned generation_ = 0;  // one per connection attempt: late completions of an older one are ignored
  std::shared_ptr<net::ByteStream> stream_;
  std::deque<std::shared_ptr<Call>> pending_;  // in the order of their commands on the wire
  std::string outgoing_;
  bool writing_ = false;
  bool flush_posted_ = false;
  net::Deadline deadline_;
  bool armed_ = false;
  std::string incoming_;
};

// The connections of one event loop (a worker's io_context), as an Asio service: they are made
// and used on that loop only, and go when the io_context shuts down, before it is destroyed.
class Connections final : public asio::execution_context::service {
 public:
  using key_type = Connections;
  static inline asio::execution_context::id id;
  explicit Connections(asio::execution_context& context) : service(context) {}

  std::shared_ptr<Connection> get(const std::shared_ptr<const Options>& options,
                                  const asio::any_io_executor& executor) {
    auto it = connections_.find(options.get());
    if (it != connections_.end()) return it->second.second;
    // Configurations come and go with reloads: forget the connections of options nobody holds
    // any more (the map's reference keeps an address from being reused while it is a key).
    std::erase_if(connections_, [](const auto& item) { return item.second.first.use_count() == 1; });
    auto connection = std::make_shared<Connection>(executor, *options);
    connections_.emplace(options.get(), std::make_pair(options, connection));
    return connection;
  }

 private:
  void shutdown() override { connections_.clear(); }
  std::unordered_map<const Options*, std::pair<std::shared_ptr<const Options>, std::shared_ptr<Connection>>>
      connections_;
};

}  // namespace

void send_detached(const std::shared_ptr<const Options>& options, const asio::any_io_executor& executor,
                   std::string commands, size_t count, ErrorSink on_error) {
  auto& context = asio::query(executor, asio::execution::context);
  asio::use_service<Connections>(context)
      .get(options, executor)
      ->send_detached(std::move(commands), count, on_error);
}

asio::awaitable<Result> execute(const std::shared_ptr<const Options>& options, std::string commands,
                                size_t count) {
  auto executor = co_await asio::this_coro::executor;
  auto& context = asio::query(executor, asio::execution::context);
  auto connection = asio::use_service<Connections>(context).get(options, executor);
  co_return co_await connection->execute(std::move(commands), count);
}

}  // namespace gh::redis
