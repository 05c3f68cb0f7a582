#include "net/splice.h"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <vector>

namespace gh::net {

namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Per direction. 16 KiB is what the stream proxy always used; larger buffers save a few syscalls
// per MB but cost every idle WebSocket the same memory.
constexpr size_t kBufferSize = 16 * 1024;

class Splicer {
 public:
  Splicer(ByteStream& a, ByteStream& b, SpliceLimits limits)
      : limits_(limits),
        to_b_{a, b, limits.write_to_b},
        to_a_{b, a, limits.write_to_a},
        timer_(a.get_executor()) {}

  asio::awaitable<SpliceResult> run(std::string_view first_to_b) {
    last_read_ = Clock::now();
    co_await (copy(to_b_, first_to_b) && copy(to_a_, {}) && watch());
    result_.a_to_b = to_b_.bytes;
    result_.b_to_a = to_a_.bytes;
    co_return result_;
  }

 private:
  struct Way {
    ByteStream& from;
    ByteStream& to;
    std::chrono::milliseconds write_limit;
    uint64_t bytes = 0;
    Clock::time_point writing_since{};  // a write is pending since then ({}: none)
    std::vector<asio::const_buffer> pending{};
  };

  // One direction until its end of stream (passed on as a half-close) or a failure.
  asio::awaitable<void> copy(Way& way, std::string_view first) {
    if (!first.empty()) {
      const bool sent = co_await write(way, first);
      if (!sent) co_return;
    }
    auto buffer = std::make_unique<char[]>(kBufferSize);
    while (!over_) {
      auto [ec, n] = co_await way.from.read_some(asio::buffer(buffer.get(), kBufferSize));
      if (n > 0) {
        last_read_ = Clock::now();
        const bool sent = co_await write(way, std::string_view(buffer.get(), n));
        if (!sent) co_return;
      }
      // stream_truncated: a TLS peer that closed its TCP connection without close_notify.
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
        boost::system::error_code ignored;
        way.to.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        if (++directions_ended_ == 2) finish(SpliceResult::End::closed);
        co_return;
      }
      if (ec) {
        finish(SpliceResult::End::failed);
        co_return;
      }
    }
  }

  // Writes `data` whole: what the socket takes at once without suspending (plain TCP), the rest
  // under the direction's write limit.
  asio::awaitable<bool> write(Way& way, std::string_view data) {
    way.pending.assign(1, asio::buffer(data));
    boost::system::error_code ec;
    way.bytes += way.to.write_now(way.pending, ec);
    if (!ec && !way.pending.empty()) {
      way.writing_since = Clock::now();
      if (way.writing_since + way.write_limit < timer_.expiry()) timer_.cancel();  // the watcher re-plans
      auto [wec, n] = co_await way.to.write(way.pending);
      way.writing_since = {};
      way.bytes += n;
      ec = wec;
    }
    if (ec) finish(SpliceResult::End::failed);
    co_return !ec;
  }

  // The earliest moment something times out: the idle limit, or a pending write's limit.
  Clock::time_point next_due() const {
    auto due = last_read_ + limits_.idle;
    for (const Way* way : {&to_a_, &to_b_})
      if (way->writing_since != Clock::time_point{})
        due = std::min(due, way->writing_since + way->write_limit);
    return due;
  }

  bool write_stalled(Clock::time_point now) const {
    for (const Way* way : {&to_a_, &to_b_})
      if (way->writing_since != Clock::time_point{} && now >= way->writing_since + way->write_limit)
        return true;
    return false;
  }

  // Sleeps until the next due time (woken early when a write starts whose limit comes sooner, or
  // when the splice ends). Traffic only moves last_read_: a busy pair costs one wake-up per idle
  // period, not one per read.
  asio::awaitable<void> watch() {
    while (!over_) {
      const auto now = Clock::now();
      const auto due = next_due();
      if (now >= due) {
        finish(write_stalled(now) ? SpliceResult::End::write_timeout : SpliceResult::End::idle_timeout);
        co_return;
      }
      timer_.expires_at(due);
      co_await timer_.async_wait(kTuple);
    }
  }

  // The first reason wins. Anything but both ends closing closes both sockets: whatever is
  // pending on them completes with an error and each coroutine returns.
  void finish(SpliceResult::End end) {
    if (over_) return;
    over_ = true;
    result_.end = end;
    timer_.cancel();
    if (end == SpliceResult::End::closed) return;
    boost::system::error_code ignored;
    to_b_.from.socket().close(ignored);
    to_b_.to.socket().close(ignored);
  }

  SpliceLimits limits_;
  Way to_b_;
  Way to_a_;
  asio::steady_timer timer_;
  Clock::time_point last_read_{};
  int directions_ended_ = 0;
  bool over_ = false;
  SpliceResult result_;
};

}  // namespace

std::string_view splice_end_name(SpliceResult::End end) {
  switch (end) {
    case SpliceResult::End::closed:
      return "closed by both sides";
    case SpliceResult::End::failed:
      return "connection failed";
    case SpliceResult::End::idle_timeout:
      return "idle timeout";
    case SpliceResult::End::write_timeout:
      return "write timed out";
  }
  return "";
}

asio::awaitable<SpliceResult> splice(ByteStream& a, ByteStream& b, SpliceLimits limits,
                                     std::string_view first_to_b) {
  Splicer splicer(a, b, limits);
  co_return co_await splicer.run(first_to_b);
}

}  // namespace gh::net
