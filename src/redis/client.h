// An asynchronous Redis client on a worker's event loop. One connection per worker and Redis
// endpoint (host, port, user, database, TLS), shared by that worker's requests: commands of
// concurrent requests are pipelined on it (written back to back, replies matched in order), so
// a worker never waits for Redis and never blocks. Each call has the endpoint's timeout (connect,
// AUTH and SELECT included; one net::Deadline per connection watches the oldest call); a timeout,
// a protocol error or a closed socket fails every call on the connection, and the next call
// connects again.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "redis/resp.h"

namespace gh::redis {

struct Options {
  std::string host;
  int port = 6379;
  int timeout_ms = 2000;
  std::string username, password;  // AUTH [username] password when password is not empty
  int database = 0;                // SELECT when not 0
  bool ssl = false, ssl_verify = false;
  std::string server_name;  // SNI and the name to verify (default: host)
};

struct Result {
  std::vector<Reply> replies;  // one per command, when `error` is empty
  std::string error;
};

// Pipelined `commands` (encode_command, `count` of them) on this worker's connection for
// `options` (one per Options object, shared by its callers: a plugin entity makes one). The
// connection belongs to the event loop (io_context) the caller runs on, and is closed when that
// io_context shuts down or no one holds `options` any more.
boost::asio::awaitable<Result> execute(const std::shared_ptr<const Options>& options, std::string commands,
                                       size_t count);

// Where a detached call's failure is reported (called on the worker's event loop).
using ErrorSink = void (*)(const std::string& error);

// The same commands without waiting for them (an increment after the request went on): they
// take their place in the pipeline, their replies are read and dropped; a failure of the
// connection or an error reply goes to `on_error`.
void send_detached(const std::shared_ptr<const Options>& options,
                   const boost::asio::any_io_executor& executor, std::string commands, size_t count,
                   ErrorSink on_error);

}  // namespace gh::redis
