// The admin listener (admin_listen): a small read-only JSON API on the control thread.
//   GET /                 node information (version, hostname, node id, enabled plugins)
//   GET /status           liveness and connection counters (used by `gatehouse health`)
//   GET /services, /routes, /consumers, /plugins, /upstreams   the loaded declarative entities
//   GET /plugin-servers   plugin-server states (when a provider is registered)
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proxy/gateway.h"

namespace gh::admin {

class AdminServer {
 public:
  using Provider = std::function<nlohmann::json()>;

  AdminServer(proxy::Gateway& gateway, boost::asio::io_context& io);
  // Binds every non-TLS admin_listen address; throws on failure.
  void listen(const std::vector<conf::ListenAddress>& addresses);
  void start();
  void stop();
  // Extra GET endpoints provided by other layers (e.g. "/plugin-servers").
  void add_endpoint(std::string path, Provider provider) {
    endpoints_[std::move(path)] = std::move(provider);
  }

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  std::pair<int, nlohmann::json> route(const std::string& method, std::string_view path) const;

  proxy::Gateway& gateway_;
  boost::asio::io_context& io_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::map<std::string, Provider, std::less<>> endpoints_;
};

}  // namespace gh::admin
