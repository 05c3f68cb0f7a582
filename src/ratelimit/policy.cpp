#include "ratelimit/policy.h"

namespace gh::ratelimit {

boost::asio::awaitable<Usage> LocalPolicy::usage(const Windows& windows) {
  Usage usage;
  store_.get(scope_, windows, usage.counts);
  co_return usage;
}

void LocalPolicy::increment(const boost::asio::any_io_executor&, const Windows& windows) {
  store_.increment(scope_, windows, 1);
}

}  // namespace gh::ratelimit
