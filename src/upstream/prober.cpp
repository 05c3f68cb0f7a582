#include "upstream/prober.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "net/byte_stream.h"
#include "net/deadline.h"
#include "tls/upstream_tls.h"

namespace gh::upstream {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxStatusLine = 1024;
// A retired prober notices within this (a reload may replace an upstream probed every hour).
constexpr auto kMaxSleep = std::chrono::seconds(1);

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

std::string probe_request(const conf::ActiveHealthcheck& check, const TargetAddress& target) {
  const bool default_port =
      (check.type == "http" && target.port == 80) || (check.type == "https" && target.port == 443);
  const bool v6 = target.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + target.host + "]" : target.host;
  if (!default_port) host += ":" + std::to_string(target.port);
  std::string out = "GET " + check.http_path + " HTTP/1.0\r\nHost: " + host + "\r\n";
  for (const auto& [name, values] : check.headers)
    for (const auto& value : values) out += name + ": " + value + "\r\n";
  out += "Connection: close\r\n\r\n";
  return out;
}

// "HTTP/1.x NNN ..." → NNN, or 0.
int status_of(std::string_view line) {
  if (!line.starts_with("HTTP/") || line.size() < 12 || line[8] != ' ') return 0;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
    status = status * 10 + (line[i] - '0');
  }
  return status;
}

asio::awaitable<std::optional<Result>> exchange(const conf::ActiveHealthcheck& check,
                                                const TargetAddress& target, net::ByteStream& stream,
                                                net::Deadline& deadline) {
  const auto timeout = to_ms(check.timeout);
  if (auto* tls = stream.tls_stream()) {
    tls::UpstreamTls::prepare(tls->native_handle(), check.https_sni.empty() ? target.host : check.https_sni,
                              check.https_verify_certificate);
    deadline.arm(timeout, stream);
    auto [ec] = co_await tls->async_handshake(asio::ssl::stream_base::client, kTuple);
    if (ec) co_return deadline.expired() ? Result::timeout : Result::tcp_failure;
  }
  const std::string request = probe_request(check, target);
  deadline.arm(timeout, stream);
  auto [wec, written] = co_await stream.write(asio::buffer(request));
  if (wec) co_return deadline.expired() ? Result::timeout : Result::tcp_failure;
  std::string head;
  char buffer[512];
  while (head.find("\r\n") == std::string::npos && head.size() < kMaxStatusLine) {
    auto [ec, n] = co_await stream.read_some(asio::buffer(buffer));
    if (ec && n == 0) {
      if (deadline.expired()) co_return Result::timeout;
      break;
    }
    head.append(buffer, n);
  }
  const int status = status_of(head);
  if (status == 0) co_return Result::tcp_failure;  // no HTTP answer: the service is not there
  co_return classify_status(status, check.healthy, check.unhealthy);
}

}  // namespace

asio::awaitable<std::optional<Result>> probe_target(const conf::ActiveHealthcheck& check,
                                                    const TargetAddress& target, asio::ssl::context& tls) {
  auto ex = co_await asio::this_coro::executor;
  net::Deadline deadline(ex);
  const auto timeout = to_ms(check.timeout);
  tcp::socket socket(ex);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(target.host, ec);
  if (ec) {
    tcp::resolver resolver(ex);  // getaddrinfo runs on Asio's resolver thread, not this one
    auto [rec, results] = co_await resolver.async_resolve(target.host, std::to_string(target.port), kTuple);
    if (rec || results.empty()) co_return deadline.expired() ? Result::timeout : Result::tcp_failure;
    deadline.arm(timeout, socket);
    auto [cec, endpoint] = co_await asio::async_connect(socket, results, kTuple);
    if (cec) co_return deadline.expired() ? Result::timeout : Result::tcp_failure;
  } else {
    deadline.arm(timeout, socket);
    auto [cec] = co_await socket.async_connect(tcp::endpoint(address, target.port), kTuple);
    if (cec) co_return deadline.expired() ? Result::timeout : Result::tcp_failure;
  }
  if (check.type == "tcp") co_return Result::success;
  std::optional<net::ByteStream> stream;
  if (check.type == "https")
    stream.emplace(std::move(socket), tls, nullptr);
  else
    stream.emplace(std::move(socket));
  auto result = co_await exchange(check, target, *stream, deadline);
  deadline.stop();
  co_return result;
}

namespace {

// Probes `due` (target indexes), at most `concurrency` at a time; returns when all are done.
asio::awaitable<void> probe_round(std::shared_ptr<UpstreamState> state, std::vector<size_t> due,
                                  asio::ssl::context& tls) {
  const auto& check = state->config().healthchecks.active;
  auto ex = co_await asio::this_coro::executor;
  size_t next = 0;
  size_t running = std::min<size_t>(static_cast<size_t>(check.concurrency), due.size());
  asio::steady_timer all_done(ex, Clock::time_point::max());
  auto worker = [&]() -> asio::awaitable<void> {
    while (next < due.size() && !state->retired) {
      const size_t i = due[next++];
      auto result = co_await probe_target(check, state->addresses()[i], tls);
      if (result && !state->retired) state->report(i, CheckKind::active, *result);
    }
    if (--running == 0) all_done.cancel();
  };
  const size_t workers = running;
  for (size_t k = 0; k < workers; ++k) asio::co_spawn(ex, worker(), asio::detached);
  if (running > 0) co_await all_done.async_wait(kTuple);
}

}  // namespace

asio::awaitable<void> run_prober(std::shared_ptr<UpstreamState> state, asio::ssl::context& tls) {
  const auto& active = state->config().healthchecks.active;
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  const auto healthy_every = to_ms(active.healthy.interval);
  const auto unhealthy_every = to_ms(active.unhealthy.interval);
  auto next_healthy = Clock::now() + healthy_every;
  auto next_unhealthy = Clock::now() + unhealthy_every;
  while (!state->retired) {
    const auto now = Clock::now();
    for (bool probing_healthy : {true, false}) {
      const auto every = probing_healthy ? healthy_every : unhealthy_every;
      auto& next = probing_healthy ? next_healthy : next_unhealthy;
      if (every.count() <= 0 || now < next) continue;
      next = now + every;
      std::vector<size_t> due;
      for (size_t i = 0; i < state->size(); ++i)
        if (state->config().targets[i].weight > 0 && state->target(i).healthy() == probing_healthy)
          due.push_back(i);
      if (!due.empty()) co_await probe_round(state, std::move(due), tls);
    }
    auto wake = Clock::now() + kMaxSleep;
    if (healthy_every.count() > 0) wake = std::min(wake, next_healthy);
    if (unhealthy_every.count() > 0) wake = std::min(wake, next_unhealthy);
    timer.expires_at(wake);
    co_await timer.async_wait(kTuple);
  }
}

}  // namespace gh::upstream
