#include "ratelimit/policy.h"

namespace gh::ratelimit {

boost::asio::awaitable<Usage> LocalPolicy::usage(const std::vector<Counter>& counters, int64_t now_ms) {
  Usage usage;
  usage.counts.reserve(counters.size());
  for (const auto& counter : counters) usage.counts.push_back(store_.get(counter.key, now_ms));
  co_return usage;
}

void LocalPolicy::increment(const boost::asio::any_io_executor&, std::vector<Counter> counters,
                            int64_t now_ms) {
  for (const auto& counter : counters)
    store_.increment(counter.key, 1, period_seconds(counter.period), now_ms);
}

}  // namespace gh::ratelimit
