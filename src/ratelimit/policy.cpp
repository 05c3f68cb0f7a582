#include "ratelimit/policy.h"

namespace gh::ratelimit {

std::optional<Usage> Policy::usage_now(const Windows&) {
  return std::nullopt;
}

boost::asio::awaitable<Usage> LocalPolicy::usage(const Windows& windows) {
  co_return *usage_now(windows);
}

std::optional<Usage> LocalPolicy::usage_now(const Windows& windows) {
  Usage usage;
  store_.get(scope_, windows, usage.counts);
  return usage;
}

void LocalPolicy::increment(const boost::asio::any_io_executor&, const Windows& windows) {
  store_.increment(scope_, windows, 1);
}

}  // namespace gh::ratelimit
