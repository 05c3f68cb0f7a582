#include "conf/pem.h"

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace gh::conf {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// Encrypted keys are refused rather than prompting on the terminal (OpenSSL's default callback).
int no_passphrase(char*, int, int, void*) {
  return 0;
}

std::unique_ptr<BIO, BioFree> memory_bio(std::string_view text) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// OpenSSL's reason for the last failure (" (no start line)"), and a clean error queue.
std::string openssl_reason() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  const char* reason = code ? ERR_reason_error_string(code) : nullptr;
  return reason ? std::string(" (") + reason + ")" : "";
}

std::unique_ptr<X509, X509Free> read_certificate(std::string_view pem) {
  auto bio = memory_bio(pem);
  return std::unique_ptr<X509, X509Free>(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
}

std::unique_ptr<EVP_PKEY, KeyFree> read_key(std::string_view pem) {
  auto bio = memory_bio(pem);
  return std::unique_ptr<EVP_PKEY, KeyFree>(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
}

}  // namespace

std::string check_certificates(std::string_view pem) {
  if (read_certificate(pem)) return "";
  return "not a PEM X.509 certificate" + openssl_reason();
}

std::string check_private_key(std::string_view pem) {
  if (read_key(pem)) return "";
  return "not a PEM private key, or an encrypted one" + openssl_reason();
}

std::string check_key_matches(std::string_view cert_pem, std::string_view key_pem) {
  auto cert = read_certificate(cert_pem);
  auto key = read_key(key_pem);
  bool match = cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return match ? "" : "the key does not belong to the certificate";
}

std::shared_ptr<EVP_PKEY> read_public_key(std::string_view pem, std::string& error) {
  // OpenSSL's decoder reads both the SubjectPublicKeyInfo and the PKCS#1 RSA forms.
  EVP_PKEY* key = nullptr;
  OSSL_DECODER_CTX* decoder =
      OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t size = pem.size();
  bool ok = decoder && OSSL_DECODER_from_data(decoder, &data, &size) == 1 && key;
  OSSL_DECODER_CTX_free(decoder);
  if (!ok) {
    EVP_PKEY_free(key);
    ERR_clear_error();  // the decoder's reason ("unsupported") says nothing useful
    error = "not a PEM public key";
    return nullptr;
  }
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

}  // namespace gh::conf
