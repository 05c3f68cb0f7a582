#include "proxy/worker.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "net/listener.h"
#include "plugins/runner.h"
#include "proxy/http_session.h"

namespace gh::proxy {

namespace asio = boost::asio;

Worker::Worker(int index, WorkerHost& host)
    : index_(index), host_(host), resolver_(io_.get_executor()), random_(std::random_device{}() + index) {
  if (auto* runtime = host_.plugin_runtime())
    runner_ = std::make_unique<plugins::PhaseRunner>(io_.get_executor(), *runtime);
}

Worker::~Worker() {
  stop();
  join();
}

void Worker::listen(const std::vector<conf::ListenAddress>& addresses) {
  for (const auto& address : addresses) {
    if (address.ssl) {
      spdlog::warn("proxy_listen {}: TLS listeners are not supported yet; skipped", address.to_string());
      continue;
    }
    net::ListenOptions options{address.host, address.port, address.backlog, true};
    acceptors_.push_back(
        std::make_unique<asio::ip::tcp::acceptor>(net::open_listener(io_.get_executor(), options)));
  }
}

void Worker::start() {
  const auto& props = host_.snapshot()->properties;
  pool_.set_limits({static_cast<size_t>(props.upstream_keepalive_pool_size),
                    props.upstream_keepalive_max_requests,
                    std::chrono::seconds(props.upstream_keepalive_idle_timeout)});
  for (auto& acceptor : acceptors_)
    asio::co_spawn(io_, accept_loop(*acceptor, acceptor->local_endpoint().port()), asio::detached);
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {} stopped: {}", index_, e.what());
    }
  });
}

asio::awaitable<void> Worker::accept_loop(asio::ip::tcp::acceptor& acceptor, uint16_t port) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      spdlog::error("accept() failed: {}", ec.message());
      continue;
    }
    active_connections++;
    asio::co_spawn(
        io_,
        [this, s = std::move(socket), port]() mutable -> asio::awaitable<void> {
          HttpSession session(*this, std::move(s), port);
          co_await session.run();
        },
        [this](std::exception_ptr e) {
          active_connections--;
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              spdlog::error("connection ended by an unexpected error: {}", ex.what());
            }
          }
        });
  }
}

void Worker::stop_accepting() {
  asio::post(io_, [this] {
    for (auto& acceptor : acceptors_) {
      boost::system::error_code ec;
      acceptor->close(ec);
    }
  });
}

void Worker::stop() {
  io_.stop();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::string Worker::new_request_id() {
  // 32 hex digits, as Kong's request ids; formatted by hand (fmt showed up in the profile).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = random_();
    for (int i = 15; i >= 0; --i, bits >>= 4) id[half * 16 + i] = kHex[bits & 0xf];
  }
  return id;
}

}  // namespace gh::proxy
