// Kong's `redis` policy: the counters of every gateway on one Redis. Usage is one pipelined
// round trip of GETs; the increment after an admitted request (Kong's timer) is one EVAL of a
// script that adds one to each counter and, when that created the key, sets the window's expiry
// (Kong's EXPIRATION), sent without making the request wait.
#pragma once

#include <memory>

#include "ratelimit/policy.h"
#include "redis/client.h"

namespace gh::ratelimit {

class RedisPolicy final : public Policy {
 public:
  explicit RedisPolicy(redis::Options options)
      : options_(std::make_shared<const redis::Options>(std::move(options))) {}
  boost::asio::awaitable<Usage> usage(const std::vector<Counter>& counters, int64_t now_ms) override;
  void increment(const boost::asio::any_io_executor& executor, std::vector<Counter> counters,
                 int64_t now_ms) override;

 private:
  std::shared_ptr<const redis::Options> options_;
};

// The counter a GET answered: nil is 0; anything but an integer is an error (empty `error`: ok).
int64_t counter_value(const redis::Reply& reply, std::string& error);

}  // namespace gh::ratelimit
