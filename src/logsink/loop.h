// The log shipping thread: one event loop of its own on which every log plugin's queue delivers
// its entries (HTTP, TCP, UDP, files), so that a log server that is slow, hung or gone never holds
// a worker, and a file write never stalls a request. It starts on first use and lives until
// shutdown() (or the end of the process).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>

namespace gh::logsink {

// The loop's executor (starts the thread on the first call).
boost::asio::any_io_executor executor();

// Sends what the queues hold (coalescing waits end at once) for at most `flush_timeout`, then
// stops the loop. Called once the workers' log phases are done (Gateway::on_stop).
void shutdown(std::chrono::milliseconds flush_timeout);

// Log rotation: file sinks reopen their files before their next write once this moved (SIGUSR1
// and reloads call request_reopen()).
void request_reopen();
uint64_t reopen_generation();

}  // namespace gh::logsink
