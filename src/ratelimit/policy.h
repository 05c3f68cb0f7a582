// Where the rate-limiting counters live: Kong's `local` policy (this process) and `redis`
// (shared by every gateway on one Redis). Reads are awaited on the worker's event loop; the
// increment after an admitted request is not (Kong runs it in a timer, off the request).
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ratelimit/local_store.h"
#include "ratelimit/window.h"

namespace gh::ratelimit {

struct Usage {
  std::array<int64_t, kPeriods.size()> counts{};  // counts[i]: Windows' window i, when `error` is empty
  std::string error;                              // why the store could not answer (fault_tolerant decides)
};

// A policy serves one plugin entity: its scope (route and service ids, empty when not scoped)
// is part of every counter's identity, as in Kong's counter keys.
class Policy {
 public:
  virtual ~Policy() = default;
  virtual boost::asio::awaitable<Usage> usage(const Windows& windows) = 0;
  // The usage at once, from a policy that needs no I/O for it (local); nullopt: await `usage`.
  virtual std::optional<Usage> usage_now(const Windows& windows);
  // Adds one to every window; `executor` is the worker's, for policies doing I/O (a policy that
  // answers usage_now does none, and is given an empty one).
  virtual void increment(const boost::asio::any_io_executor& executor, const Windows& windows) = 0;
};

class LocalPolicy final : public Policy {
 public:
  LocalPolicy(LocalStore& store, std::string_view route_id, std::string_view service_id)
      : store_(store), scope_(store.scope(route_id, service_id)) {}
  boost::asio::awaitable<Usage> usage(const Windows& windows) override;
  std::optional<Usage> usage_now(const Windows& windows) override;
  void increment(const boost::asio::any_io_executor& executor, const Windows& windows) override;

 private:
  LocalStore& store_;
  uint32_t scope_;
};

}  // namespace gh::ratelimit
