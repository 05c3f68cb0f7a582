// Client certificates (mutual TLS) on the proxy's TLS listeners, as Kong's kong.client.tls.* and
// nginx's $ssl_client_* see them: asking for one during the certificate phase (Kong's
// request_client_certificate), turning off session reuse for a connection, and what the client
// presented once the handshake is done.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace gh::tls {

// What the client presented, read once after the handshake (requests and the log phase share it).
struct ClientCertificate {
  std::string chain_pem;  // the leaf, then the intermediates the client sent (Kong's full chain)
  std::string leaf_pem;   // $ssl_client_raw_cert
  std::string subject;    // $ssl_client_s_dn (RFC 2253, as nginx)
  std::string issuer;     // $ssl_client_i_dn
  std::string serial;     // $ssl_client_serial (upper-case hex)
  std::string verify;     // $ssl_client_verify: SUCCESS or FAILED:<OpenSSL's reason>
};

// After a completed handshake: null when the client sent no certificate (or it was not asked).
std::shared_ptr<const ClientCertificate> client_certificate(SSL* ssl);

// During the certificate phase (the handshake paused before the server's flight): the server
// will send a CertificateRequest. Whatever the client sends is accepted (as Kong: plugins decide,
// e.g. with set_client_verify); `ca_pem` (may be empty) are CA certificates whose names go in the
// request and against which the chain is verified for $ssl_client_verify. Without them the chain
// is checked against nothing, so a client certificate shows as FAILED:<reason>. Returns "" or
// why it cannot (a CA that does not parse).
std::string request_client_certificate(SSL* ssl, std::string_view ca_pem);

// During the certificate phase: this connection's session can be resumed neither by ticket nor
// by session id (Kong's disable_session_reuse). Completed by forget_session after the handshake.
void disable_session_reuse(SSL* ssl);
// After the handshake: drops the session from the server's cache when reuse was disabled.
void forget_session_if_disabled(SSL* ssl);

}  // namespace gh::tls
