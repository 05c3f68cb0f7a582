#include "tls/upstream_tls.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <stdexcept>

#include "tls/openssl.h"

namespace gh::tls {

namespace {

std::unique_ptr<boost::asio::ssl::context> make_context(const conf::Service& service,
                                                        const conf::Declarative& config) {
  auto context = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_verify(ctx, service.tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (service.tls_verify_depth >= 0) SSL_CTX_set_verify_depth(ctx, service.tls_verify_depth);
  if (service.ca_certificate_ids.empty()) {
    SSL_CTX_set_default_verify_paths(ctx);
  } else {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const auto& id : service.ca_certificate_ids) {
      const auto* ca = config.find_ca_certificate(id);
      if (!ca) continue;  // references were resolved at load
      BioPtr bio(BIO_new_mem_buf(ca->cert.data(), static_cast<int>(ca->cert.size())));
      X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (!cert || X509_STORE_add_cert(store, cert.get()) != 1)
        throw std::runtime_error("CA certificate " + id + ": " + last_error());
    }
  }
  if (const auto* client = config.find_certificate(service.client_certificate_id)) {
    auto pair = KeyPair::from_pem(client->cert, client->key);
    if (SSL_CTX_use_cert_and_key(ctx, pair.leaf.get(), pair.key.get(), pair.chain.get(), 1) != 1)
      throw std::runtime_error("client certificate " + client->id + ": " + last_error());
  }
  return context;
}

}  // namespace

bool is_tls_protocol(const std::string& service_protocol) {
  return service_protocol == "https" || service_protocol == "grpcs" || service_protocol == "tls" ||
         service_protocol == "wss";
}

UpstreamTls::UpstreamTls(const conf::Declarative& config) {
  for (const auto& service : config.services)
    if (is_tls_protocol(service.protocol)) by_service_[service.id] = make_context(service, config);
}

boost::asio::ssl::context* UpstreamTls::context(const std::string& service_id) const {
  auto it = by_service_.find(service_id);
  return it == by_service_.end() ? nullptr : it->second.get();
}

void UpstreamTls::prepare(SSL* ssl, const std::string& host, bool verify) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  const bool ip_literal = !ec;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (ip_literal) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
}

std::string UpstreamTls::verify_error(SSL* ssl) {
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return "";
  return std::to_string(result) + ":" + X509_verify_cert_error_string(result);
}

}  // namespace gh::tls
