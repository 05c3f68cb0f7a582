// udp-log (Kong's kong/plugins/udp-log): sends Kong's log entry of every request to host:port as
// one UDP datagram (the JSON object, no newline). Kong starts a timer per entry; here entries
// wait in a bounded queue (10000 entries, the oldest dropped and counted beyond) and are sent by
// the log shipping thread with non-blocking sends (`timeout` has nothing left to bound). An
// entry that could not be sent is not retried (Kong neither); one larger than a datagram can
// carry is lost with an error.
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/this_coro.hpp>
#include <optional>

#include "net/resolver.h"
#include "plugins/bundled/log_plugins.h"

namespace gh::plugins {
namespace {

using nlohmann::json;
namespace asio = boost::asio;
using asio::ip::udp;

// One queue's destination; used on the log shipping thread only.
struct UdpServer {
  std::string host;
  uint16_t port = 0;
  std::optional<net::Resolver> resolver;

  std::string where() const { return host + ":" + std::to_string(port); }
};

asio::awaitable<std::string> send(UdpServer& server, const logsink::Batch& batch) {
  auto ex = co_await asio::this_coro::executor;
  if (!server.resolver) server.resolver.emplace(ex);
  std::string error;
  auto addresses = co_await server.resolver->resolve(server.host, error);
  if (addresses.empty()) co_return "could not connect to " + server.where() + ": " + error;
  const udp::endpoint endpoint(addresses.front(), server.port);
  udp::socket socket(ex);
  boost::system::error_code ec;
  socket.open(endpoint.protocol(), ec);
  if (!ec) socket.non_blocking(true, ec);
  if (!ec) socket.connect(endpoint, ec);
  if (ec) co_return "could not connect to " + server.where() + ": " + ec.message();
  size_t failed = 0;
  std::string last_error;
  for (const auto& entry : batch) {
    socket.send(asio::buffer(entry), 0, ec);
    if (ec) {
      ++failed;
      last_error = ec.message();
    }
  }
  if (failed > 0)
    co_return "could not send data to " + server.where() + ": " + last_error + " (" + std::to_string(failed) +
        " of " + std::to_string(batch.size()) + " entries)";
  co_return "";
}

std::unique_ptr<NativeHandler> make(const json& config, SharedMemory& memory) {
  bundled::refuse_custom_fields_by_lua(config);
  auto server = std::make_shared<UdpServer>();
  server->host = config.at("host").get<std::string>();
  server->port = config.at("port").get<uint16_t>();
  logsink::QueueOptions options;
  options.max_batch_size = 100;
  options.max_coalescing_delay = 0;
  options.max_retry_time = -1;
  auto sender = [server](const logsink::Batch& batch) { return send(*server, batch); };
  return std::make_unique<bundled::QueuedLogHandler>(
      memory.log_sinks.queue("udp-log", server->where(), config.dump(), options, sender));
}

NativePluginSpec spec() {
  return {
      "udp-log",
      "3.9.0",
      8,
      core::bit(core::Phase::log),
      {{"name", "udp-log"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {bundled::host_field("host"), bundled::port_field("port"),
              bundled::number_field("timeout", 10000), bundled::lua_code_field()}}}}}}}},
      make,
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
