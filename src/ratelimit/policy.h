// Where the rate-limiting counters live: Kong's `local` policy (this process) and `redis`
// (shared by every gateway on one Redis). Reads are awaited on the worker's event loop; the
// increment after an admitted request is not (Kong runs it in a timer, off the request).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ratelimit/local_store.h"
#include "ratelimit/window.h"

namespace gh::ratelimit {

struct Counter {
  std::string key;  // counter_key(...)
  Period period;    // its lifetime: period_seconds(period)
};

struct Usage {
  std::vector<int64_t> counts;  // one per counter, when `error` is empty
  std::string error;            // why the store could not answer (fault_tolerant decides)
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual boost::asio::awaitable<Usage> usage(const std::vector<Counter>& counters, int64_t now_ms) = 0;
  // Adds one to every counter; `executor` is the worker's, for policies doing I/O.
  virtual void increment(const boost::asio::any_io_executor& executor, std::vector<Counter> counters,
                         int64_t now_ms) = 0;
};

class LocalPolicy final : public Policy {
 public:
  explicit LocalPolicy(LocalStore& store) : store_(store) {}
  boost::asio::awaitable<Usage> usage(const std::vector<Counter>& counters, int64_t now_ms) override;
  void increment(const boost::asio::any_io_executor& executor, std::vector<Counter> counters,
                 int64_t now_ms) override;

 private:
  LocalStore& store_;
};

}  // namespace gh::ratelimit
