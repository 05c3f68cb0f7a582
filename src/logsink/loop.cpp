#include "logsink/loop.h"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.h"
#include "logsink/queue.h"

namespace gh::logsink {

namespace {

class Loop {
 public:
  Loop() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~Loop() { stop(); }

  boost::asio::any_io_executor executor() { return io_.get_executor(); }

  // After this no handler runs any more; queued coroutines are destroyed with the io_context.
  void stop() {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

Loop& loop() {
  static Loop instance;
  return instance;
}

std::atomic<uint64_t> reopen_counter{0};

}  // namespace

boost::asio::any_io_executor executor() {
  return loop().executor();
}

void shutdown(std::chrono::milliseconds flush_timeout) {
  const auto until = std::chrono::steady_clock::now() + flush_timeout;
  flush_all();
  while (any_busy() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  uint64_t left = 0;
  for (const auto& q : queue_stats()) left += q.waiting;
  if (left > 0) spdlog::warn("log queues: {} entries not sent before shutdown were lost", left);
  loop().stop();
}

void request_reopen() {
  reopen_counter.fetch_add(1, std::memory_order_relaxed);
}
uint64_t reopen_generation() {
  return reopen_counter.load(std::memory_order_relaxed);
}

}  // namespace gh::logsink
