// The client side of TLS to upstreams (`protocol: https` services): one OpenSSL context per
// service with its trust (the service's `ca_certificates`, else the system's CA store), its
// verification depth and its `client_certificate`; per connection the SNI and the name to verify.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <unordered_map>

#include "conf/entities.h"

namespace gh::tls {

class UpstreamTls {
 public:
  // Contexts for every service whose protocol is TLS. Throws std::runtime_error (certificates
  // were checked at load, so only OpenSSL failures remain).
  explicit UpstreamTls(const conf::Declarative& config);
  UpstreamTls(const UpstreamTls&) = delete;
  UpstreamTls& operator=(const UpstreamTls&) = delete;

  // The context for `service_id`, or null when that service does not speak TLS.
  boost::asio::ssl::context* context(const std::string& service_id) const;

  // Prepares one connection before its handshake: SNI `host` (not for IP literals), the name (or
  // IP) its certificate must carry, and whether to verify at all (the service's tls_verify or a
  // plugin's kong.service.set_tls_verify).
  static void prepare(SSL* ssl, const std::string& host, bool verify);
  // Why verification failed ("certificate has expired"), "" when it did not.
  static std::string verify_error(SSL* ssl);

 private:
  std::unordered_map<std::string, std::unique_ptr<boost::asio::ssl::context>> by_service_;
};

bool is_tls_protocol(const std::string& service_protocol);

}  // namespace gh::tls
