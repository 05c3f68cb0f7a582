// Kong's `redis` policy: the counters of every gateway on one Redis. Usage is one pipelined
// round trip of GETs; the increment after an admitted request (Kong's timer) is one EVAL of a
// script that adds one to each counter and, when that created the key, sets the window's expiry
// (Kong's EXPIRATION), sent without making the request wait.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ratelimit/policy.h"
#include "redis/client.h"

namespace gh::ratelimit {

class RedisPolicy final : public Policy {
 public:
  RedisPolicy(redis::Options options, std::string_view route_id, std::string_view service_id)
      : options_(std::make_shared<const redis::Options>(std::move(options))),
        key_prefix_(counter_key_prefix(route_id, service_id)) {}
  boost::asio::awaitable<Usage> usage(const Windows& windows) override;
  void increment(const boost::asio::any_io_executor& executor, const Windows& windows) override;

 private:
  // Appends the Redis key of `windows`' window i (Kong's counter_key) to `out`.
  void append_key(std::string& out, const Windows& windows, size_t i) const;

  std::shared_ptr<const redis::Options> options_;
  std::string key_prefix_;  // counter_key_prefix(route_id, service_id)
};

// The counter a GET answered: nil is 0; anything but an integer is an error (empty `error`: ok).
int64_t counter_value(const redis::Reply& reply, std::string& error);

}  // namespace gh::ratelimit
