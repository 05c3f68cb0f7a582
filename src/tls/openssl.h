// Owning handles for the OpenSSL objects the TLS layer keeps, and PEM loading.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace gh::tls {

struct OpenSslFree {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
using X509Ptr = std::unique_ptr<X509, OpenSslFree>;
using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree>;
using BioPtr = std::unique_ptr<BIO, OpenSslFree>;
using ChainPtr = std::unique_ptr<STACK_OF(X509), OpenSslFree>;

// A certificate (the leaf), its chain and its private key, ready to hand to a connection.
struct KeyPair {
  X509Ptr leaf;
  ChainPtr chain;  // the intermediates after the leaf (may be empty, never null)
  KeyPtr key;
  // Throws std::runtime_error with OpenSSL's reason (configuration checks make that rare).
  static KeyPair from_pem(std::string_view cert_pem, std::string_view key_pem);
};

// The text of OpenSSL's most recent error ("" if none); clears the thread's error queue.
std::string last_error();

}  // namespace gh::tls
