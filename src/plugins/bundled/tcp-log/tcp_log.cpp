// tcp-log (Kong's kong/plugins/tcp-log): sends Kong's log entry of every request to host:port
// over TCP (TLS with `tls`, SNI `tls_sni`, the certificate not verified, as Kong), one JSON
// object per line, on a connection kept alive for `keepalive` ms; connect, handshake and send
// bounded by `timeout` ms. Kong starts a timer per entry; here entries wait in a bounded queue
// (10000 entries, the oldest dropped and counted beyond) and go out together on one connection
// from the log shipping thread. As in Kong, an entry that could not be sent is not retried.
#include <boost/asio/this_coro.hpp>

#include "logsink/log_server.h"
#include "plugins/bundled/log_plugins.h"

namespace gh::plugins {
namespace {

using nlohmann::json;
namespace asio = boost::asio;

asio::awaitable<std::string> send(logsink::LogServer& server, const logsink::Batch& batch) {
  const auto& address = server.address();
  net::Deadline deadline(co_await asio::this_coro::executor);
  auto opened = co_await server.open(deadline);
  if (!opened.connection)
    co_return (opened.handshake_failed ? "failed to perform TLS handshake to " : "failed to connect to ") +
        address.where() + ": " + opened.error;
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(batch.size() * 2);
  for (const auto& entry : batch) {
    buffers.push_back(asio::buffer(entry));
    buffers.push_back(asio::buffer("\n", 1));
  }
  auto& connection = opened.connection;
  deadline.arm(address.timeout, connection->stream);
  auto [ec, written] = co_await connection->stream.write(buffers);
  if (ec) co_return "failed to send data to " + address.where() + ": " + logsink::describe(ec, deadline);
  deadline.stop();
  server.keep(std::move(connection));
  co_return "";
}

std::unique_ptr<NativeHandler> make(const json& config, SharedMemory& memory) {
  bundled::refuse_custom_fields_by_lua(config);
  logsink::ServerAddress address;
  address.host = config.at("host").get<std::string>();
  address.port = config.at("port").get<uint16_t>();
  address.timeout = bundled::milliseconds_of(config, "timeout", 10000);
  address.keepalive = bundled::milliseconds_of(config, "keepalive", 60000);
  address.tls = config.value("tls", false);
  if (auto sni = config.find("tls_sni"); sni != config.end() && sni->is_string())
    address.sni = sni->get<std::string>();
  logsink::QueueOptions options;
  options.max_batch_size = 100;
  options.max_coalescing_delay = 0;
  options.max_retry_time = -1;
  auto server = std::make_shared<logsink::LogServer>(address);
  auto sender = [server](const logsink::Batch& batch) { return send(*server, batch); };
  return std::make_unique<bundled::QueuedLogHandler>(
      memory.log_sinks.queue("tcp-log", address.where(), config.dump(), options, sender));
}

NativePluginSpec spec() {
  return {
      "tcp-log",
      "3.9.0",
      7,
      core::bit(core::Phase::log),
      {{"name", "tcp-log"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {bundled::host_field("host"),
              bundled::port_field("port"),
              bundled::number_field("timeout", 10000),
              bundled::number_field("keepalive", 60000),
              {{"tls", {{"type", "boolean"}, {"required", true}, {"default", false}}}},
              {{"tls_sni", {{"type", "string"}}}},
              bundled::lua_code_field()}}}}}}}},
      make,
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
