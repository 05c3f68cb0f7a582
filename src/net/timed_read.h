// "Read what the peer sends within this stage's timeout": every read of the HTTP proxy (a
// request body, an upstream response head or body) is this one call, so arming the deadline,
// making room in the buffer and committing what arrived are written once.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>

#include "net/buffer.h"
#include "net/deadline.h"

namespace gh::net {

struct ReadResult {
  boost::system::error_code error;  // with deadline.expired(): the timeout passed
  size_t bytes = 0;                 // appended to the buffer
};

// One read from `stream` (ByteStream or anything with read_some returning (ec, n)) into at
// least `room` free bytes at the end of `buffer`, under no deadline of its own: for a stage
// whose deadline spans several reads (a request head), armed by the caller.
template <class Stream>
boost::asio::awaitable<ReadResult> read_into(Stream& stream, Buffer& buffer, size_t room) {
  size_t available = 0;
  char* space = buffer.prepare(room, available);
  auto [ec, n] = co_await stream.read_some(boost::asio::buffer(space, available));
  if (!ec) buffer.commit(n);
  co_return ReadResult{ec, ec ? 0 : n};
}

// The same read, cut when `timeout` passes before it completes.
template <class Stream>
boost::asio::awaitable<ReadResult> read_within(Deadline& deadline, std::chrono::milliseconds timeout,
                                               Stream& stream, Buffer& buffer, size_t room) {
  size_t available = 0;
  char* space = buffer.prepare(room, available);
  deadline.arm(timeout, stream);
  auto [ec, n] = co_await stream.read_some(boost::asio::buffer(space, available));
  deadline.disarm();
  if (!ec) buffer.commit(n);
  co_return ReadResult{ec, ec ? 0 : n};
}

}  // namespace gh::net
