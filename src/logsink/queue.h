// Kong's plugin queue (kong/tools/queue.lua) for the log plugins: entries are queued by the log
// phase (never blocking, whatever the log server does) and delivered in batches by a coroutine
// on the log shipping thread of the queue's LogSinks (logsink/loop.h), with Kong's queue options: batches of
// up to max_batch_size entries gathered for at most max_coalescing_delay, at most max_entries (and max_bytes)
// waiting (the oldest are dropped to make room), failed batches retried with exponential backoff
// (initial_retry_delay doubled up to max_retry_delay) for max_retry_time.
//
// Every queue counts what it sent, dropped and lost; drops and failures are logged at most once
// per interval (log::Throttle), with the count of those not logged. LogSinks::queue_stats() reads
// the counters (for metrics).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/log_throttle.h"

namespace gh::logsink {

class LogSinks;

// Kong's `queue` record (kong/tools/queue_schema.lua); seconds as Kong gives them.
struct QueueOptions {
  size_t max_batch_size = 1;
  double max_coalescing_delay = 1;
  size_t max_entries = 10000;
  std::optional<size_t> max_bytes;
  double max_retry_time = 60;  // -1: a failed batch is not retried
  double initial_retry_delay = 0.01;
  double max_retry_delay = 60;
  int concurrency_limit = 1;  // 1: one batch at a time, in order; -1: batches in parallel

  // From a plugin's validated `queue` record (missing or null fields keep the defaults).
  static QueueOptions from_json(const nlohmann::json& queue);
};

// Kong's queue_schema.lua as a schema field, for the plugins' schemas (`queue`).
nlohmann::json queue_schema_field();

// Delivers one batch. Returns "" once delivered, else why not (the batch is then retried as the
// options say). Runs on the log shipping thread, one call at a time per queue unless
// concurrency_limit is -1.
using Batch = std::vector<std::string>;
using Sender = std::function<boost::asio::awaitable<std::string>(const Batch& batch)>;

struct QueueStats {
  std::string plugin;
  std::string name;
  uint64_t waiting = 0;  // entries queued now
  uint64_t sent = 0;     // entries delivered
  uint64_t dropped = 0;  // entries dropped because the queue was full (max_entries / max_bytes)
  uint64_t lost = 0;     // entries of batches given up after max_retry_time
};

// Made by LogSinks::queue(), which finds a live queue of the same identity first.
class Queue : public std::enable_shared_from_this<Queue> {
 public:
  // Delivers on `sinks`' thread, which must outlive every use of the queue.
  Queue(LogSinks& sinks, std::string plugin, std::string name, QueueOptions options, Sender sender);
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Queues one entry from any thread, never blocking. False when the entry itself was refused
  // (larger than max_bytes); making room by dropping older entries still queues it.
  bool enqueue(std::string entry);

  QueueStats stats() const;
  const std::string& name() const { return name_; }
  // Entries queued or being delivered.
  bool busy() const;
  // On the loop: ends a coalescing wait (the batch goes as it is).
  void wake();

 private:
  boost::asio::awaitable<void> run();
  // The next batch (empty: the queue is empty and the runner ends).
  boost::asio::awaitable<Batch> collect();
  boost::asio::awaitable<void> deliver(Batch batch);
  static boost::asio::awaitable<void> deliver_one(std::shared_ptr<Queue> self, Batch batch);
  void report_dropped(size_t dropped_now, const char* why);

  LogSinks& sinks_;
  const std::string plugin_;
  const std::string name_;
  const QueueOptions options_;
  const Sender sender_;

  mutable std::mutex mutex_;
  std::deque<std::string> entries_;
  size_t bytes_ = 0;
  bool running_ = false;     // a runner coroutine exists (it ends when the queue is empty)
  bool coalescing_ = false;  // the runner waits for more entries to fill a batch
  size_t in_flight_ = 0;     // batches being delivered (concurrency_limit -1)
  uint64_t sent_ = 0, dropped_ = 0, lost_ = 0;
  log::Throttle drop_log_{std::chrono::seconds(10)};   // under mutex_
  log::Throttle retry_log_{std::chrono::seconds(10)};  // on the loop only
  log::Throttle lost_log_{std::chrono::seconds(10)};   // on the loop only

  std::optional<boost::asio::steady_timer> timer_;  // the runner's waits (on the loop only)
};

}  // namespace gh::logsink
