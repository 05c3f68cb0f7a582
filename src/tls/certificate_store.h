// Which certificate a TLS client gets, by the server name it sent (SNI), the way Kong chooses:
// the exact name, then the name with its leftmost label as a wildcard ("*.example.com"), then
// with its rightmost label as one ("www.example.*"), then the "*" SNI, then the default
// certificate (ssl_cert, or the generated self-signed one).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tls/openssl.h"

namespace gh::tls {

// One kong.yml certificate (or the default one): one or two key pairs (e.g. RSA and ECDSA;
// OpenSSL serves the one the client supports).
struct CertificateEntry {
  std::string id;  // the kong.yml certificate id, or "default"
  std::vector<KeyPair> pairs;
};

class CertificateStore {
 public:
  void set_default(std::shared_ptr<const CertificateEntry> entry) { default_ = std::move(entry); }
  // `sni` as validated by the configuration: lower-case, "name", "*.suffix", "prefix.*" or "*".
  void add(const std::string& sni, std::shared_ptr<const CertificateEntry> entry);

  // Never null once a default is set. `server_name` is what the client sent ("" when nothing).
  const CertificateEntry* find(std::string_view server_name) const;

 private:
  const CertificateEntry* lookup(const std::string& name) const;

  std::unordered_map<std::string, std::shared_ptr<const CertificateEntry>> by_name_;
  std::shared_ptr<const CertificateEntry> default_;
};

}  // namespace gh::tls
