// The stream proxy's way to its services: the HTTP proxy's tries (the balancer's targets when the
// service's host names an upstream, the service's retries, passive health checks) behind the
// interface of the stream layer, which sits below this one.
#pragma once

#include "stream/stream_session.h"
#include "upstream/balancer.h"

namespace gh::proxy {

class WorkerHost;
using core::RequestContext;

class StreamDialer final : public stream::UpstreamDialer {
 public:
  StreamDialer(upstream::Balancer& balancer, WorkerHost& host) : balancer_(balancer), host_(host) {}
  std::unique_ptr<stream::ServiceTries> tries(RequestContext& ctx) override;

 private:
  upstream::Balancer& balancer_;
  WorkerHost& host_;
};

}  // namespace gh::proxy
