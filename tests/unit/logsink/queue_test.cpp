// logsink::Queue: Kong's queue semantics (batching, coalescing, bounds, retries with backoff)
// with a sender that records what it got, on the real log shipping loop.
#include "logsink/queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "logsink/loop.h"

namespace gh::logsink {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Records every batch; fails while `failing` is set.
struct Recorder {
  std::mutex mutex;
  std::vector<Batch> batches;
  std::vector<Clock::time_point> attempts;
  std::atomic<bool> failing{false};
  std::atomic<int> fail_times{0};  // fail this many attempts, then succeed

  Sender sender() {
    return [this](const Batch& batch) -> boost::asio::awaitable<std::string> {
      std::lock_guard lock(mutex);
      attempts.push_back(Clock::now());
      if (failing || fail_times > 0) {
        if (fail_times > 0) --fail_times;
        co_return "log server says no";
      }
      batches.push_back(batch);
      co_return "";
    };
  }
  size_t batch_count() {
    std::lock_guard lock(mutex);
    return batches.size();
  }
};

// Polls `done` for up to 10 s.
template <typename Done>
bool eventually(Done done) {
  const auto until = Clock::now() + 10s;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

std::string unique_name() {
  static std::atomic<int> n{0};
  return "test-" + std::to_string(++n);
}

TEST(LogQueue, FullBatchGoesAtOnceAndTheRestAfterTheCoalescingDelay) {
  Recorder recorder;
  QueueOptions options;
  options.max_batch_size = 3;
  options.max_coalescing_delay = 0.3;
  LogSinks sinks;
  auto queue = sinks.queue("test", "q", unique_name(), options, recorder.sender());
  const auto started = Clock::now();
  for (int i = 0; i < 7; ++i) queue->enqueue("e" + std::to_string(i));
  ASSERT_TRUE(eventually([&] { return recorder.batch_count() == 3; }));
  std::lock_guard lock(recorder.mutex);
  EXPECT_EQ(recorder.batches[0], (Batch{"e0", "e1", "e2"}));
  EXPECT_EQ(recorder.batches[1], (Batch{"e3", "e4", "e5"}));
  EXPECT_EQ(recorder.batches[2], (Batch{"e6"}));  // alone, once the delay was over
  EXPECT_GE(Clock::now() - started, 250ms);
  EXPECT_EQ(queue->stats().sent, 7u);
}

TEST(LogQueue, FullQueueDropsTheOldestAndCountsThem) {
  Recorder recorder;
  recorder.failing = true;
  QueueOptions options;
  options.max_entries = 5;
  options.initial_retry_delay = 0.01;
  options.max_retry_delay = 0.02;
  LogSinks sinks;
  auto queue = sinks.queue("test", "q", unique_name(), options, recorder.sender());
  queue->enqueue("first");  // taken by the runner at once: retried, outside the queue's count
  ASSERT_TRUE(eventually([&] { return queue->stats().waiting == 0; }));
  for (int i = 0; i < 20; ++i) queue->enqueue("e" + std::to_string(i));
  auto stats = queue->stats();
  EXPECT_EQ(stats.waiting, 5u);
  EXPECT_EQ(stats.dropped, 15u);
  recorder.failing = false;
  ASSERT_TRUE(eventually([&] { return queue->stats().sent == 6; }));
  std::lock_guard lock(recorder.mutex);
  EXPECT_EQ(recorder.batches.front(), Batch{"first"});
  EXPECT_EQ(recorder.batches.back(), Batch{"e19"});  // the newest were kept
}

TEST(LogQueue, RetriesWithExponentialBackoff) {
  Recorder recorder;
  recorder.fail_times = 4;
  QueueOptions options;
  options.initial_retry_delay = 0.02;
  options.max_retry_delay = 0.05;
  LogSinks sinks;
  auto queue = sinks.queue("test", "q", unique_name(), options, recorder.sender());
  queue->enqueue("x");
  ASSERT_TRUE(eventually([&] { return queue->stats().sent == 1; }));
  std::lock_guard lock(recorder.mutex);
  ASSERT_EQ(recorder.attempts.size(), 5u);
  // Pauses 0.02, 0.04, then capped at 0.05.
  const std::chrono::milliseconds least[] = {20ms, 40ms, 50ms, 50ms};
  for (size_t i = 0; i < 4; ++i) EXPECT_GE(recorder.attempts[i + 1] - recorder.attempts[i], least[i]) << i;
}

TEST(LogQueue, GivesUpAfterMaxRetryTimeAndCountsTheLoss) {
  Recorder recorder;
  recorder.failing = true;
  QueueOptions options;
  options.max_batch_size = 2;
  options.max_coalescing_delay = 0;
  options.max_retry_time = 0.1;
  options.initial_retry_delay = 0.01;
  options.max_retry_delay = 0.02;
  LogSinks sinks;
  auto queue = sinks.queue("test", "q", unique_name(), options, recorder.sender());
  queue->enqueue("a");
  ASSERT_TRUE(eventually([&] { return queue->stats().lost == 1; }));
  // The loss is counted inside the batch's send; the queue is idle a moment later.
  EXPECT_TRUE(eventually([&] { return !queue->busy(); }));
}

TEST(LogQueue, NoRetryWithMaxRetryTimeMinusOne) {
  Recorder recorder;
  recorder.fail_times = 1;
  QueueOptions options;
  options.max_retry_time = -1;
  LogSinks sinks;
  auto queue = sinks.queue("test", "q", unique_name(), options, recorder.sender());
  queue->enqueue("a");
  ASSERT_TRUE(eventually([&] { return queue->stats().lost == 1; }));
  std::lock_guard lock(recorder.mutex);
  EXPECT_EQ(recorder.attempts.size(), 1u);
}

TEST(LogQueue, MaxBytesRefusesALargerEntryAndDropsToMakeRoom) {
  Recorder recorder;
  recorder.failing = true;
  QueueOptions options;
  options.max_bytes = 10;
  options.max_retry_time = 60;
  LogSinks sinks;
  auto queue = sinks.queue("test", "q", unique_name(), options, recorder.sender());
  EXPECT_FALSE(queue->enqueue(std::string(11, 'x')));
  queue->enqueue("busy");  // in delivery, retried
  ASSERT_TRUE(eventually([&] { return queue->stats().waiting == 0; }));
  EXPECT_TRUE(queue->enqueue("12345"));
  EXPECT_TRUE(queue->enqueue("12345"));
  EXPECT_TRUE(queue->enqueue("123"));  // 13 bytes: the oldest goes
  auto stats = queue->stats();
  EXPECT_EQ(stats.waiting, 2u);
  EXPECT_EQ(stats.dropped, 2u);  // the refused one and the oldest
  recorder.failing = false;
  // The recorder must outlive the deliveries.
  ASSERT_TRUE(eventually([&] { return queue->stats().sent == 3 && !queue->busy(); }));
}

TEST(LogQueue, ConcurrencyLimitMinusOneDeliversBatchesInParallel) {
  std::atomic<int> in_flight{0}, most{0}, done{0};
  Sender slow = [&](const Batch&) -> boost::asio::awaitable<std::string> {
    most = std::max(most.load(), ++in_flight);
    boost::asio::steady_timer pause(co_await boost::asio::this_coro::executor, 50ms);
    co_await pause.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    --in_flight;
    ++done;
    co_return "";
  };
  QueueOptions options;
  options.concurrency_limit = -1;
  LogSinks sinks;
  auto queue = sinks.queue("test", "q", unique_name(), options, slow);
  for (int i = 0; i < 5; ++i) queue->enqueue("e");
  ASSERT_TRUE(eventually([&] { return done == 5 && !queue->busy(); }));
  EXPECT_GT(most.load(), 1);
  EXPECT_EQ(queue->stats().sent, 5u);
}

TEST(LogQueue, EqualIdentitiesShareAQueue) {
  Recorder recorder;
  const auto identity = unique_name();
  LogSinks sinks;
  auto a = sinks.queue("test", "q", identity, {}, recorder.sender());
  auto b = sinks.queue("test", "q", identity, {}, recorder.sender());
  auto c = sinks.queue("test", "q", identity + "x", {}, recorder.sender());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// Each owner has its own queues, thread and reopen generation: two gateways in one process
// (or two tests) never share a queue nor see each other's rotations.
TEST(LogSinks, OwnersKeepTheirQueuesApart) {
  Recorder recorder;
  LogSinks one, two;
  const auto identity = unique_name();
  auto a = one.queue("test", "a", identity, {}, recorder.sender());
  auto b = two.queue("test", "b", identity, {}, recorder.sender());
  EXPECT_NE(a, b);
  ASSERT_EQ(one.queue_stats().size(), 1u);
  EXPECT_EQ(one.queue_stats()[0].name, "a");
  ASSERT_EQ(two.queue_stats().size(), 1u);
  EXPECT_EQ(two.queue_stats()[0].name, "b");
  one.request_reopen();
  EXPECT_EQ(one.reopen_generation(), 1u);
  EXPECT_EQ(two.reopen_generation(), 0u);
  a.reset();
  EXPECT_TRUE(one.queue_stats().empty());  // the registry holds no queue alive
}

// shutdown() ends the coalescing waits: what is queued goes at once, not after the delay.
TEST(LogSinks, ShutdownSendsWhatIsQueuedThenStops) {
  Recorder recorder;
  LogSinks sinks;
  QueueOptions options;
  options.max_batch_size = 100;
  options.max_coalescing_delay = 3600;
  auto queue = sinks.queue("test", "q", unique_name(), options, recorder.sender());
  for (int i = 0; i < 3; ++i) queue->enqueue("e" + std::to_string(i));
  const auto started = Clock::now();
  sinks.shutdown(5s);
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_EQ(queue->stats().sent, 3u);
  EXPECT_TRUE(sinks.flushing());
}

TEST(LogQueueOptions, FromKongsQueueRecord) {
  auto o = QueueOptions::from_json({{"max_batch_size", 50},
                                    {"max_coalescing_delay", 2.5},
                                    {"max_entries", 7},
                                    {"max_bytes", nullptr},
                                    {"concurrency_limit", -1}});
  EXPECT_EQ(o.max_batch_size, 50u);
  EXPECT_DOUBLE_EQ(o.max_coalescing_delay, 2.5);
  EXPECT_EQ(o.max_entries, 7u);
  EXPECT_FALSE(o.max_bytes);
  EXPECT_EQ(o.concurrency_limit, -1);
  EXPECT_DOUBLE_EQ(o.max_retry_time, 60);  // default
}

}  // namespace
}  // namespace gh::logsink
