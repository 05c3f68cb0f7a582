#include "logsink/loop.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <thread>

#include "common/log.h"

namespace gh::logsink {

class LogSinks::Loop {
 public:
  Loop() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~Loop() { stop(); }

  boost::asio::any_io_executor executor() { return io_.get_executor(); }

  // After this no handler runs any more; queued coroutines are destroyed with the io_context.
  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

LogSinks::LogSinks() = default;

LogSinks::~LogSinks() {
  // The loop first: its coroutines hold queues, and queues use this object's members.
  std::lock_guard lock(loop_mutex_);
  loop_.reset();
}

boost::asio::any_io_executor LogSinks::executor() {
  std::lock_guard lock(loop_mutex_);
  if (!loop_) loop_ = std::make_unique<Loop>();
  return loop_->executor();
}

std::shared_ptr<Queue> LogSinks::queue(const std::string& plugin, const std::string& name,
                                       const std::string& identity, QueueOptions options, Sender sender) {
  std::lock_guard lock(queues_mutex_);
  auto& slot = queues_[plugin + "\n" + identity];
  if (auto existing = slot.lock()) return existing;
  auto queue = std::make_shared<Queue>(*this, plugin, name, options, std::move(sender));
  slot = queue;
  return queue;
}

std::vector<std::shared_ptr<Queue>> LogSinks::live_queues() {
  std::lock_guard lock(queues_mutex_);
  std::vector<std::shared_ptr<Queue>> out;
  for (auto it = queues_.begin(); it != queues_.end();) {
    if (auto q = it->second.lock()) {
      out.push_back(std::move(q));
      ++it;
    } else {
      it = queues_.erase(it);
    }
  }
  return out;
}

std::vector<QueueStats> LogSinks::queue_stats() {
  std::vector<QueueStats> out;
  for (const auto& q : live_queues()) out.push_back(q->stats());
  return out;
}

void LogSinks::shutdown(std::chrono::milliseconds flush_timeout) {
  const auto until = std::chrono::steady_clock::now() + flush_timeout;
  flushing_ = true;
  auto queues = live_queues();
  for (auto& q : queues) boost::asio::post(executor(), [q] { q->wake(); });
  auto any_busy = [&] {
    for (const auto& q : queues)
      if (q->busy()) return true;
    return false;
  };
  while (any_busy() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  uint64_t left = 0;
  for (const auto& q : queues) left += q->stats().waiting;
  if (left > 0) spdlog::warn("log queues: {} entries not sent before shutdown were lost", left);
  std::lock_guard lock(loop_mutex_);
  if (loop_) loop_->stop();
}

}  // namespace gh::logsink
