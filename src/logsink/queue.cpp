#include "logsink/queue.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

#include "common/log.h"
#include "logsink/loop.h"

namespace gh::logsink {

namespace asio = boost::asio;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// concurrency_limit -1 (Kong: a timer per batch, unbounded): batches delivered at once, at most.
constexpr size_t kMaxParallelBatches = 64;

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
}

}  // namespace

QueueOptions QueueOptions::from_json(const json& queue) {
  QueueOptions o;
  if (!queue.is_object()) return o;
  auto number = [&](const char* name, double fallback) {
    auto it = queue.find(name);
    return it != queue.end() && it->is_number() ? it->get<double>() : fallback;
  };
  o.max_batch_size = static_cast<size_t>(std::max(1.0, number("max_batch_size", 1)));
  o.max_coalescing_delay = number("max_coalescing_delay", 1);
  o.max_entries = static_cast<size_t>(std::max(1.0, number("max_entries", 10000)));
  if (auto it = queue.find("max_bytes"); it != queue.end() && it->is_number())
    o.max_bytes = static_cast<size_t>(std::max(0.0, it->get<double>()));
  o.max_retry_time = number("max_retry_time", 60);
  o.initial_retry_delay = number("initial_retry_delay", 0.01);
  o.max_retry_delay = number("max_retry_delay", 60);
  o.concurrency_limit = static_cast<int>(number("concurrency_limit", 1));
  return o;
}

json queue_schema_field() {
  return {
      {"queue",
       {{"type", "record"},
        {"required", true},
        {"fields",
         {{{"max_batch_size", {{"type", "integer"}, {"default", 1}, {"between", {1, 1000000}}}}},
          {{"max_coalescing_delay", {{"type", "number"}, {"default", 1}, {"between", {0, 3600}}}}},
          {{"max_entries", {{"type", "integer"}, {"default", 10000}, {"between", {1, 1000000}}}}},
          {{"max_bytes", {{"type", "integer"}}}},
          {{"max_retry_time", {{"type", "number"}, {"default", 60}}}},
          {{"initial_retry_delay", {{"type", "number"}, {"default", 0.01}, {"between", {0.001, 1000000}}}}},
          {{"max_retry_delay", {{"type", "number"}, {"default", 60}, {"between", {0.001, 1000000}}}}},
          {{"concurrency_limit", {{"type", "integer"}, {"default", 1}, {"one_of", {-1, 1}}}}}}}}}};
}

Queue::Queue(LogSinks& sinks, std::string plugin, std::string name, QueueOptions options, Sender sender)
    : sinks_(sinks),
      plugin_(std::move(plugin)),
      name_(std::move(name)),
      options_(options),
      sender_(std::move(sender)) {}

bool Queue::enqueue(std::string entry) {
  std::unique_lock lock(mutex_);
  if (options_.max_bytes && entry.size() > *options_.max_bytes) {
    ++dropped_;
    uint64_t held = 0;
    const bool log_now = drop_log_.allow(held);
    lock.unlock();
    if (log_now)
      spdlog::error(
          "[{}] queue {}: string to be queued is longer ({} bytes) than the queue's max_bytes ({} bytes)",
          plugin_, name_, entry.size(), *options_.max_bytes);
    return false;
  }
  size_t dropped_now = 0;
  auto full = [&] {
    return entries_.size() >= options_.max_entries ||
           (options_.max_bytes && bytes_ + entry.size() > *options_.max_bytes);
  };
  while (!entries_.empty() && full()) {
    bytes_ -= entries_.front().size();
    entries_.pop_front();
    ++dropped_now;
  }
  dropped_ += dropped_now;
  bytes_ += entry.size();
  entries_.push_back(std::move(entry));
  const bool start = !running_;
  running_ = true;
  const bool batch_full = coalescing_ && entries_.size() >= options_.max_batch_size;
  if (batch_full) coalescing_ = false;
  lock.unlock();

  if (dropped_now > 0)
    report_dropped(dropped_now, options_.max_bytes ? "max_entries or max_bytes" : "max_entries");
  if (start) {
    asio::co_spawn(
        sinks_.executor(), [self = shared_from_this()]() { return self->run(); }, asio::detached);
  } else if (batch_full) {
    asio::post(sinks_.executor(), [self = shared_from_this()] { self->wake(); });
  }
  return true;
}

void Queue::report_dropped(size_t dropped_now, const char* why) {
  uint64_t held = 0;
  uint64_t total = 0;
  {
    std::lock_guard lock(mutex_);
    if (!drop_log_.allow(held)) return;
    total = dropped_;
  }
  spdlog::error(
      "[{}] queue {}: queue full ({}), dropping old entries until processing is successful again: {} dropped "
      "now, {} in all ({} messages like this one not logged)",
      plugin_, name_, why, dropped_now, total, held);
}

void Queue::wake() {
  if (timer_) timer_->cancel();
}

bool Queue::busy() const {
  std::lock_guard lock(mutex_);
  return running_ || in_flight_ > 0;
}

QueueStats Queue::stats() const {
  std::lock_guard lock(mutex_);
  return {plugin_, name_, entries_.size(), sent_, dropped_, lost_};
}

asio::awaitable<void> Queue::run() {
  timer_.emplace(co_await asio::this_coro::executor);
  for (;;) {
    Batch batch = co_await collect();
    if (batch.empty()) break;
    if (options_.concurrency_limit == 1) {
      co_await deliver(std::move(batch));
      continue;
    }
    // Parallel delivery: each batch in a coroutine of its own, a bounded number at a time.
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (in_flight_ < kMaxParallelBatches) {
          ++in_flight_;
          break;
        }
      }
      timer_->expires_after(std::chrono::milliseconds(5));
      co_await timer_->async_wait(kTuple);
    }
    asio::co_spawn(timer_->get_executor(), deliver_one(shared_from_this(), std::move(batch)), asio::detached);
  }
}

// A batch delivered beside the others (concurrency_limit -1). A plain coroutine function: its
// arguments live in its frame (GCC mishandles capturing lambdas spawned as coroutines).
asio::awaitable<void> Queue::deliver_one(std::shared_ptr<Queue> self, Batch batch) {
  co_await self->deliver(std::move(batch));
  std::lock_guard lock(self->mutex_);
  --self->in_flight_;
}

asio::awaitable<Batch> Queue::collect() {
  const auto deadline = Clock::now() + seconds(options_.max_coalescing_delay);
  bool wait = false;
  {
    std::lock_guard lock(mutex_);
    if (entries_.empty()) {
      running_ = false;  // the next enqueue starts a runner
      co_return Batch{};
    }
    wait =
        entries_.size() < options_.max_batch_size && options_.max_coalescing_delay > 0 && !sinks_.flushing();
    coalescing_ = wait;
  }
  if (wait) {
    // Until the batch is full (enqueue wakes the timer) or the delay is over, whichever first.
    timer_->expires_at(deadline);
    co_await timer_->async_wait(kTuple);
  }
  std::lock_guard lock(mutex_);
  coalescing_ = false;
  const size_t n = std::min(entries_.size(), options_.max_batch_size);
  Batch batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    bytes_ -= entries_.front().size();
    batch.push_back(std::move(entries_.front()));
    entries_.pop_front();
  }
  co_return batch;  // not empty: only this runner takes entries
}

asio::awaitable<void> Queue::deliver(Batch batch) {
  const auto started = Clock::now();
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (int retry = 0;; ++retry) {
    std::string error;
    try {
      error = co_await sender_(batch);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (error.empty()) {
      std::lock_guard lock(mutex_);
      sent_ += batch.size();
      co_return;
    }
    const bool give_up = options_.max_retry_time < 0 || sinks_.flushing() ||
                         Clock::now() - started > seconds(options_.max_retry_time);
    if (give_up) {
      {
        std::lock_guard lock(mutex_);
        lost_ += batch.size();
      }
      uint64_t held = 0;
      if (lost_log_.allow(held))
        spdlog::error(
            "[{}] queue {}: could not send entries, giving up after {} retries. {} queue entries were lost: "
            "{} "
            "({} messages like this one not logged)",
            plugin_, name_, retry, batch.size(), error, held);
      co_return;
    }
    uint64_t held = 0;
    if (retry_log_.allow(held))
      spdlog::warn(
          "[{}] queue {}: handler could not process entries: {} ({} messages like this one not logged)",
          plugin_, name_, error, held);
    const double delay =
        std::min(options_.max_retry_delay, std::ldexp(options_.initial_retry_delay, std::min(retry, 60)));
    pause.expires_after(seconds(delay));
    co_await pause.async_wait(kTuple);
  }
}

}  // namespace gh::logsink
