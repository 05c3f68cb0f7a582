#include "tls/openssl.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <stdexcept>

namespace gh::tls {

namespace {

int no_passphrase(char*, int, int, void*) {
  return 0;
}

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

}  // namespace

std::string last_error() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

KeyPair KeyPair::from_pem(std::string_view cert_pem, std::string_view key_pem) {
  KeyPair pair;
  auto certs = memory_bio(cert_pem);
  pair.leaf.reset(PEM_read_bio_X509(certs.get(), nullptr, no_passphrase, nullptr));
  if (!pair.leaf) throw std::runtime_error("cannot read the certificate: " + last_error());
  pair.chain.reset(sk_X509_new_null());
  while (X509* next = PEM_read_bio_X509(certs.get(), nullptr, no_passphrase, nullptr))
    sk_X509_push(pair.chain.get(), next);
  ERR_clear_error();  // the loop ends on "no start line"
  auto key = memory_bio(key_pem);
  pair.key.reset(PEM_read_bio_PrivateKey(key.get(), nullptr, no_passphrase, nullptr));
  if (!pair.key) throw std::runtime_error("cannot read the private key: " + last_error());
  return pair;
}

}  // namespace gh::tls
