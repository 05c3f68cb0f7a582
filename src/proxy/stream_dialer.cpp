#include "proxy/stream_dialer.h"

#include "proxy/upstream_target.h"
#include "proxy/worker.h"

namespace gh::proxy {

namespace {

class StreamTries final : public stream::ServiceTries {
 public:
  StreamTries(upstream::Balancer& balancer, const upstream::HealthRegistry& upstreams, RequestContext& ctx)
      : ctx_(ctx), tries_(balancer, upstreams, ctx) {}

  boost::asio::awaitable<bool> connect(upstream::Connector& connector,
                                       std::unique_ptr<net::UpstreamConnection>& conn) override {
    const bool connected = co_await tries_.connect(connector, conn);
    if (connected) co_return true;
    // nginx's stream statuses have no 504: a timed-out connect is a 502 as any other failure;
    // no target, or a host that does not resolve, is Kong's 503.
    ctx_.response.status = tries_.answer().status == 503 ? 503 : 502;
    co_return false;
  }

  void ended(int status) override { tries_.responded(status); }

 private:
  RequestContext& ctx_;
  UpstreamTries tries_;
};

}  // namespace

std::unique_ptr<stream::ServiceTries> StreamDialer::tries(RequestContext& ctx) {
  return std::make_unique<StreamTries>(balancer_, host_.upstreams(), ctx);
}

}  // namespace gh::proxy
