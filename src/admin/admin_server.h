// The admin listener (admin_listen): a small read-only JSON API on the control thread, over
// plain HTTP or, for `ssl` addresses, over TLS with admin_ssl_cert/admin_ssl_cert_key (or a
// self-signed pair generated in the prefix, as Kong does; docs/tls.md).
//   GET /                 node information (version, hostname, node id, enabled plugins)
//   GET /status           liveness and connection counters (used by `gatehouse health`)
//   GET /services, /routes, /consumers, /plugins, /upstreams   the loaded declarative entities
//   GET /upstreams/{name or id}/health   each target's health (docs/upstream.md)
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

#include "http/parser.h"
#include "net/buffer.h"
#include "net/byte_stream.h"
#include "net/deadline.h"
#include "proxy/gateway.h"
#include "tls/server_tls.h"

namespace gh::admin {

class AdminServer {
 public:
  using Provider = std::function<nlohmann::json()>;

  AdminServer(proxy::Gateway& gateway, boost::asio::io_context& io);
  // Binds every admin_listen address (building the TLS context first when one is `ssl`); throws
  // on failure.
  void listen(const std::vector<conf::ListenAddress>& addresses);
  void start();
  void stop();
  // Extra GET endpoints provided by other layers (e.g. "/plugin-servers").
  void add_endpoint(std::string path, Provider provider) {
    endpoints_[std::move(path)] = std::move(provider);
  }

 private:
  struct Listener {
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    bool tls = false;
  };
  std::shared_ptr<const tls::ServerTls> server_tls();
  boost::asio::awaitable<void> accept_loop(Listener& listener);
  boost::asio::awaitable<void> serve_tls(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> serve(net::ByteStream stream);
  // How reading a request head ended: `with_body` is answered without reading the body, then
  // the connection closes; `malformed` and `timed_out` are answered and close; `gone` closes.
  enum class Head { complete, with_body, malformed, timed_out, gone };
  boost::asio::awaitable<Head> read_head(net::ByteStream& stream, http::Parser& parser, net::Buffer& in,
                                         net::Deadline& deadline);
  static std::pair<int, nlohmann::json> refusal(Head head, const http::Parser& parser);
  boost::asio::awaitable<void> linger(net::ByteStream& stream, net::Deadline& deadline);
  std::pair<int, nlohmann::json> route(const std::string& method, std::string_view path) const;

  proxy::Gateway& gateway_;
  boost::asio::io_context& io_;
  std::vector<Listener> listeners_;
  std::shared_ptr<const tls::ServerTls> tls_;  // built once: a reload does not change admin certificates
  std::map<std::string, Provider, std::less<>> endpoints_;
};

}  // namespace gh::admin
