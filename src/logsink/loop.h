// The log plugins' delivery machinery, owned by one object (logsink::LogSinks) whose owner decides
// its lifetime: the gateway's (in plugins::SharedMemory, so it survives reloads as the queues in it
// do), or a test's. It holds
//  - the log shipping thread: one event loop of its own on which every log plugin's queue delivers
//    its entries (HTTP, TCP, UDP, files), so that a log server that is slow, hung or gone never
//    holds a worker, and a file write never stalls a request. It starts on first use and stops at
//    shutdown() or with the object;
//  - the registry of live queues (a reload that keeps a plugin's config keeps its queue);
//  - the reopen generation the file sinks follow after a log rotation (SIGUSR1, reloads).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "logsink/queue.h"

namespace gh::logsink {

class LogSinks {
 public:
  LogSinks();
  // Stops the thread if shutdown() did not: what the queues still hold is lost.
  ~LogSinks();
  LogSinks(const LogSinks&) = delete;
  LogSinks& operator=(const LogSinks&) = delete;

  // The queue of `plugin` named `name`: an existing live one with the same `identity` (the
  // plugin's config: a reload that keeps it keeps its queue and the entries in it; plugin
  // entities with equal configs share one, as Kong's http-log does), else a new one. The queue
  // delivers on this object's thread; it must not be used after this object is gone.
  std::shared_ptr<Queue> queue(const std::string& plugin, const std::string& name,
                               const std::string& identity, QueueOptions options, Sender sender);
  // Counters of every live queue (for metrics).
  std::vector<QueueStats> queue_stats();

  // The loop's executor (starts the thread on the first call).
  boost::asio::any_io_executor executor();
  // True once shutdown() began: queues neither wait to fill a batch nor retry.
  bool flushing() const { return flushing_.load(std::memory_order_relaxed); }

  // Sends what the queues hold (coalescing waits end at once) for at most `flush_timeout`, then
  // stops the loop. Called once the workers' log phases are done (Gateway::on_stop).
  void shutdown(std::chrono::milliseconds flush_timeout);

  // Log rotation: file sinks reopen their files before their next write once this moved (SIGUSR1
  // and reloads call request_reopen()).
  void request_reopen() { reopen_counter_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t reopen_generation() const { return reopen_counter_.load(std::memory_order_relaxed); }

 private:
  class Loop;
  std::vector<std::shared_ptr<Queue>> live_queues();

  std::mutex loop_mutex_;
  std::unique_ptr<Loop> loop_;  // made by the first executor() call
  std::mutex queues_mutex_;
  std::map<std::string, std::weak_ptr<Queue>> queues_;  // plugin \n identity → queue
  std::atomic<bool> flushing_{false};
  std::atomic<uint64_t> reopen_counter_{0};
};

}  // namespace gh::logsink
