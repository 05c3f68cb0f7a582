// The admin listener (admin_listen) and the status listener (status_listen): the transport of
// Kong's DB-less Admin API (admin/api.h, docs/admin-api.md) on the control thread, over plain HTTP
// or, for `ssl` addresses, over TLS with admin_ssl_cert/admin_ssl_cert_key (or a self-signed pair
// generated in the prefix, as Kong does; docs/tls.md). Request bodies (POST /config) are read up
// to nginx_admin_client_max_body_size (10m, as Kong's admin server block); larger ones get 413.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin/api.h"
#include "http/parser.h"
#include "net/buffer.h"
#include "net/byte_stream.h"
#include "net/deadline.h"
#include "proxy/gateway.h"
#include "tls/server_tls.h"

namespace gh::admin {

class AdminServer {
 public:
  using Provider = Api::Provider;

  AdminServer(proxy::Gateway& gateway, boost::asio::io_context& io);
  // Binds every admin_listen address (building the TLS context first when one is `ssl`); throws
  // on failure.
  void listen(const std::vector<conf::ListenAddress>& addresses);
  // Binds every status_listen address: /status, /status/ready and /metrics only.
  void listen_status(const std::vector<conf::ListenAddress>& addresses);
  void start();
  void stop();
  // Extra GET endpoints provided by other layers (e.g. "/plugin-servers").
  void add_endpoint(std::string path, Provider provider) {
    api_.add_endpoint(std::move(path), std::move(provider));
  }
  void set_readiness(std::function<std::string()> not_ready) { api_.set_readiness(std::move(not_ready)); }

 private:
  struct Listener {
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    bool tls = false;
    bool status_only = false;
  };
  std::shared_ptr<const tls::ServerTls> server_tls();
  void bind(const std::vector<conf::ListenAddress>& addresses, bool status_only);
  boost::asio::awaitable<void> accept_loop(Listener& listener);
  boost::asio::awaitable<void> serve_tls(boost::asio::ip::tcp::socket socket, bool status_only);
  // `client_refused` (non-empty): every request on the connection is answered 400 with it (a client
  // certificate the admin listener requires is missing or not trusted).
  boost::asio::awaitable<void> serve(net::ByteStream stream, bool status_only,
                                     std::string client_refused = {});
  // How reading a request ended: `complete` (head and body) is answered; `too_large` (a body over
  // the limit) is answered 413 without reading the body, then the connection closes;
  // `malformed` and `timed_out` are answered and close; `gone` closes.
  enum class Read { complete, too_large, malformed, timed_out, gone };
  boost::asio::awaitable<Read> read_request(net::ByteStream& stream, http::Parser& parser, net::Buffer& in,
                                            net::Deadline& deadline, std::string& body);
  static ApiResponse refusal(Read read, const http::Parser& parser);
  boost::asio::awaitable<void> linger(net::ByteStream& stream, net::Deadline& deadline);
  ApiRequest api_request(http::RequestHead& head, std::string body) const;

  proxy::Gateway& gateway_;
  boost::asio::io_context& io_;
  Api api_;
  size_t max_body_ = 10 * 1024 * 1024;  // nginx_admin_client_max_body_size
  std::vector<Listener> listeners_;
  std::shared_ptr<const tls::ServerTls> tls_;  // built once: a reload does not change admin certificates
};

}  // namespace gh::admin
