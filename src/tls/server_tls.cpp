#include "tls/server_tls.h"

#include <openssl/err.h>

#include <cstring>
#include <stdexcept>

#include "common/log.h"

namespace gh::tls {

namespace {

int handshake_state_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int protocol_version(const std::string& name) {
  if (name == "TLSv1") return TLS1_VERSION;
  if (name == "TLSv1.1") return TLS1_1_VERSION;
  if (name == "TLSv1.2") return TLS1_2_VERSION;
  return TLS1_3_VERSION;
}

// On an `http2` listener a client offering h2 gets it (our preference), else http/1.1; elsewhere
// only http/1.1 is offered: a client asking for h2 alone gets no ALPN answer.
int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  static const unsigned char kH2AndHttp11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  const auto* state = static_cast<const HandshakeState*>(SSL_get_ex_data(ssl, handshake_state_index()));
  const bool h2 = state && state->offer_h2;
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, h2 ? kH2AndHttp11 : kHttp11,
                            h2 ? sizeof kH2AndHttp11 : sizeof kHttp11, in, in_len) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::shared_ptr<CertificateEntry> make_entry(std::string id,
                                             const std::vector<std::pair<std::string, std::string>>& pems) {
  auto entry = std::make_shared<CertificateEntry>();
  entry->id = std::move(id);
  for (const auto& [cert, key] : pems) entry->pairs.push_back(KeyPair::from_pem(cert, key));
  return entry;
}

}  // namespace

ServerTls::ServerTls(const conf::TlsSettings& settings, const std::vector<conf::Certificate>& certificates,
                     const std::vector<PemPair>& defaults, const ServerTls* previous)
    : context_(boost::asio::ssl::context::tls_server) {
  configure(settings, previous);
  std::vector<std::pair<std::string, std::string>> default_pems;
  for (const auto& pair : defaults) default_pems.emplace_back(pair.cert, pair.key);
  store_.set_default(make_entry("default", default_pems));
  for (const auto& certificate : certificates) {
    std::vector<std::pair<std::string, std::string>> pems{{certificate.cert, certificate.key}};
    if (!certificate.cert_alt.empty()) pems.emplace_back(certificate.cert_alt, certificate.key_alt);
    auto entry = make_entry(certificate.id, pems);
    for (const auto& sni : certificate.snis) store_.add(sni, entry);
  }
}

void ServerTls::configure(const conf::TlsSettings& settings, const ServerTls* previous) {
  SSL_CTX* ctx = context_.native_handle();
  SSL_CTX_set_min_proto_version(ctx, protocol_version(settings.min_version));
  SSL_CTX_set_max_proto_version(ctx, protocol_version(settings.max_version));
  uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  if (settings.prefer_server_ciphers) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  if (!settings.session_tickets) options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, options);
  if (!settings.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1)
    throw std::runtime_error("ssl_ciphers: " + last_error());
  SSL_CTX_set_dh_auto(ctx, 1);  // DHE suites of "intermediate" get ffdhe parameters, as Kong's ssl_dhparam
  static const unsigned char kSessionContext[] = "gatehouse";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_timeout(ctx, settings.session_timeout_seconds);
  if (previous) {
    unsigned char keys[80];
    if (SSL_CTX_get_tlsext_ticket_keys(previous->context_.native_handle(), keys, sizeof keys) == 1)
      SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof keys);
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_cert_cb(ctx, on_certificate, this);
  ERR_clear_error();
}

void ServerTls::attach(SSL* ssl, HandshakeState* state) {
  SSL_set_ex_data(ssl, handshake_state_index(), state);
}

// OpenSSL calls this once the ClientHello is in, before it picks a cipher: the moment to run the
// certificate phase (by pausing: returning -1 makes the handshake report
// SSL_ERROR_WANT_X509_LOOKUP and call again when resumed) and to install the certificate.
int ServerTls::on_certificate(SSL* ssl, void* self) {
  auto* state = static_cast<HandshakeState*>(SSL_get_ex_data(ssl, handshake_state_index()));
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (state) {
    state->server_name = sni ? sni : "";
    if (state->run_certificate_phase) {
      state->run_certificate_phase = false;
      state->paused = true;
      return -1;
    }
  }
  const auto* entry = static_cast<const ServerTls*>(self)->store_.find(sni ? sni : "");
  if (!entry) return 0;
  for (const auto& pair : entry->pairs)
    if (SSL_use_cert_and_key(ssl, pair.leaf.get(), pair.key.get(), pair.chain.get(), 1) != 1) return 0;
  if (state) state->certificate_id = entry->id;
  return 1;
}

std::shared_ptr<const ServerTls> ServerTlsCache::get(uint64_t generation, const conf::Properties& properties,
                                                     const conf::Declarative& config) {
  std::lock_guard lock(mutex_);
  if (current_ && generation_ == generation) return current_;
  std::vector<PemPair> defaults;
  for (size_t i = 0; i < properties.ssl.certs.size(); ++i)
    defaults.push_back({properties.ssl.certs[i], properties.ssl.keys[i]});
  if (defaults.empty()) {
    if (generated_defaults_.empty()) generated_defaults_ = default_certificates(properties.prefix);
    defaults = generated_defaults_;
  }
  current_ = std::make_shared<const ServerTls>(properties.ssl, config.certificates, defaults, current_.get());
  generation_ = generation;
  return current_;
}

}  // namespace gh::tls
