#include "tls/client_certificate.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls/openssl.h"

namespace gh::tls {

namespace {

// Marks connections whose session must not be cached (disable_session_reuse).
int no_reuse_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// nginx's `ssl_verify_client optional_no_ca`: the handshake never fails on the client's chain;
// OpenSSL still records the verification result, which $ssl_client_verify reports.
int accept_any_chain(int, X509_STORE_CTX*) {
  return 1;
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return "";
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string distinguished_name(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "";
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string serial_hex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (!bn) return "";
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

}  // namespace

std::shared_ptr<const ClientCertificate> client_certificate(SSL* ssl) {
  X509Ptr leaf(SSL_get1_peer_certificate(ssl));
  if (!leaf) return nullptr;
  auto out = std::make_shared<ClientCertificate>();
  out->leaf_pem = pem_of(leaf.get());
  out->chain_pem = out->leaf_pem;
  // On the server side the peer chain holds only what followed the leaf.
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* cert = sk_X509_value(chain, i);
      if (X509_cmp(cert, leaf.get()) != 0) out->chain_pem += pem_of(cert);
    }
  }
  out->subject = distinguished_name(X509_get_subject_name(leaf.get()));
  out->issuer = distinguished_name(X509_get_issuer_name(leaf.get()));
  out->serial = serial_hex(leaf.get());
  long result = SSL_get_verify_result(ssl);
  out->verify =
      result == X509_V_OK ? "SUCCESS" : std::string("FAILED:") + X509_verify_cert_error_string(result);
  return out;
}

std::string request_client_certificate(SSL* ssl, std::string_view ca_pem) {
  if (!ca_pem.empty()) {
    BioPtr bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
    X509_STORE* store = X509_STORE_new();
    int count = 0;
    while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, ca);
      SSL_add_client_CA(ssl, ca);  // copies the subject name
      X509_free(ca);
      ++count;
    }
    last_error();  // the loop ends on "no start line"
    if (count == 0) {
      X509_STORE_free(store);
      return "ca_certs: no PEM certificate in it";
    }
    SSL_set0_verify_cert_store(ssl, store);
  }
  SSL_set_verify(ssl, SSL_VERIFY_PEER, accept_any_chain);
  return "";
}

void disable_session_reuse(SSL* ssl) {
  SSL_set_options(ssl, SSL_OP_NO_TICKET);  // no stateless ticket (TLS 1.2)
  SSL_set_num_tickets(ssl, 0);             // no TLS 1.3 ticket of either kind
  SSL_set_ex_data(ssl, no_reuse_index(), ssl);
}

void forget_session_if_disabled(SSL* ssl) {
  if (!SSL_get_ex_data(ssl, no_reuse_index())) return;
  if (SSL_SESSION* session = SSL_get_session(ssl)) SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), session);
}

}  // namespace gh::tls
