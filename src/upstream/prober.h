// Active health checks of one upstream (Kong's healthchecks.active): probes its healthy targets
// every healthy.interval and its unhealthy ones every unhealthy.interval, at most `concurrency`
// at a time, each bounded by `timeout`, and reports every result to the UpstreamState.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>

#include "upstream/health.h"

namespace gh::upstream {

// Runs until the state is retired (a reload replaced it) or the io_context stops.
boost::asio::awaitable<void> run_prober(std::shared_ptr<UpstreamState> state, boost::asio::ssl::context& tls);

// One probe of `target` (an active check's verdict; nullopt: a status in neither list).
boost::asio::awaitable<std::optional<Result>> probe_target(const conf::ActiveHealthcheck& check,
                                                           const TargetAddress& target,
                                                           boost::asio::ssl::context& tls);

}  // namespace gh::upstream
