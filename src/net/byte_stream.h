// A connection's byte stream: a plain TCP socket, or TLS over one. Code that speaks a protocol
// (the HTTP session) is written once against this; each operation is one branch and then the
// very Asio operation it would use on the concrete stream (no extra coroutine frame, no virtual
// call), so plain TCP pays nothing measurable for TLS existing.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <variant>
#include <vector>

#include "net/deadline.h"

namespace gh::net {

class ByteStream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using TlsStream = boost::asio::ssl::stream<Socket>;

  explicit ByteStream(Socket socket) : stream_(std::in_place_type<Socket>, std::move(socket)) {}
  // TLS on `socket` with `context`; `owner` (whatever owns the context and the callbacks'
  // state, e.g. a tls::ServerTls) is kept alive as long as the stream.
  ByteStream(Socket socket, boost::asio::ssl::context& context, std::shared_ptr<const void> owner)
      : owner_(std::move(owner)), stream_(std::in_place_type<TlsStream>, std::move(socket), context) {}
  ByteStream(ByteStream&&) = default;
  ByteStream& operator=(ByteStream&&) = delete;

  bool is_tls() const { return std::holds_alternative<TlsStream>(stream_); }
  TlsStream* tls_stream() { return std::get_if<TlsStream>(&stream_); }
  Socket& socket() {
    if (auto* t = tls_stream()) return t->next_layer();
    return std::get<Socket>(stream_);
  }

  // co_await-able: std::tuple<error_code, size_t>.
  auto read_some(boost::asio::mutable_buffer buffer) {
    if (auto* t = tls_stream()) return t->async_read_some(buffer, kTuple);
    return std::get<Socket>(stream_).async_read_some(buffer, kTuple);
  }
  template <typename ConstBufferSequence>
  auto write(const ConstBufferSequence& buffers) {
    if (auto* t = tls_stream()) return boost::asio::async_write(*t, buffers, kTuple);
    return boost::asio::async_write(std::get<Socket>(stream_), buffers, kTuple);
  }

  // Sends what the socket takes right now from the front of `buffers` and removes it there; never
  // suspends. Returns the bytes sent. A head of a few hundred bytes nearly always fits a keep-alive
  // socket's send buffer, so the caller only falls back to write() (and a deadline) for the rest:
  // Asio's operation, handler and scheduler round cost ~1.5k instructions per write (callgrind).
  // Would-block is not an error. TLS sends nothing here (SSL_write's state belongs to the stream).
  size_t write_now(std::vector<boost::asio::const_buffer>& buffers, boost::system::error_code& ec);

  // Ends TLS cleanly: sends close_notify and waits (at most `timeout`) for the peer's, so a
  // client reading to the end sees a proper end of stream rather than a truncation. The socket
  // stays open (the caller closes it). Plain TCP: nothing to do.
  boost::asio::awaitable<void> close_notify(Deadline& deadline, std::chrono::milliseconds timeout) {
    auto* t = tls_stream();
    if (!t) co_return;
    deadline.arm(timeout, *this);
    co_await t->async_shutdown(kTuple);
    deadline.disarm();
  }

  // For net::Deadline: cancelling the socket ends whatever operation is pending on either stream.
  void cancel(boost::system::error_code& ec) { socket().cancel(ec); }
  auto get_executor() { return socket().get_executor(); }

 private:
  static constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  std::shared_ptr<const void> owner_;  // declared first: destroyed after the SSL object
  std::variant<Socket, TlsStream> stream_;
};

}  // namespace gh::net
