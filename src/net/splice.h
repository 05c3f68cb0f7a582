// Copies bytes both ways between two connected streams (plain TCP or TLS on either side) until
// both directions have ended: the stream proxy's connections and the HTTP proxy's upgraded ones
// (WebSocket) are the same loop. Each direction reads into one fixed buffer and writes it out
// whole before reading again, so a slow reader holds back its writer (TCP backpressure) and
// memory stays at two buffers per pair, however much flows.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "net/byte_stream.h"

namespace gh::net {

struct SpliceLimits {
  // Nothing read from either side for this long: both closed (nginx's proxy_read_timeout on an
  // upgraded connection, proxy_timeout in the stream module).
  std::chrono::milliseconds idle{60000};
  // One write to `a` (to `b`) still pending after this long: both closed (send_timeout).
  std::chrono::milliseconds write_to_a{60000};
  std::chrono::milliseconds write_to_b{60000};
};

struct SpliceResult {
  enum class End {
    closed,         // both sides sent their end of stream
    failed,         // a read or write failed (reset, closed mid-write, TLS error): both closed
    idle_timeout,   // limits.idle passed without a byte
    write_timeout,  // a write stalled (the reader stopped reading)
  };
  End end = End::closed;
  uint64_t a_to_b = 0;  // bytes written to b (those of `first_to_b` included)
  uint64_t b_to_a = 0;
};

std::string_view splice_end_name(SpliceResult::End end);

// Runs until both directions are over. An end of stream from one side is passed on as a
// half-close (the other side's sending half is shut down: TCP FIN; over TLS the peer sees the TCP
// end without close_notify) while the other direction goes on. On failure or timeout both
// sockets are closed. `first_to_b`: bytes already read from `a` (sent to `b` before anything
// else).
boost::asio::awaitable<SpliceResult> splice(ByteStream& a, ByteStream& b, SpliceLimits limits,
                                            std::string_view first_to_b = {});

}  // namespace gh::net
