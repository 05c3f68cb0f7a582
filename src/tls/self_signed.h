// The default certificate Kong serves when no ssl_cert is configured: self-signed pairs
// generated once into <prefix>/ssl and reused by later starts (so clients that pinned it keep
// working across restarts).
#pragma once

#include <string>
#include <vector>

namespace gh::tls {

struct PemPair {
  std::string cert;
  std::string key;
};

enum class KeyType { rsa2048, ecdsa_p256 };

// A fresh self-signed certificate for `common_name` (also its DNS subjectAltName), valid for
// ten years. Throws std::runtime_error.
PemPair generate_self_signed(const std::string& common_name, KeyType type);

// <prefix>/ssl/<name>.{crt,key} (RSA) and <name>-ecdsa.{crt,key}, generated when missing: the
// proxy's "gatehouse-default" pairs, the admin listener's "admin-gatehouse-default" ones (Kong
// keeps the two apart the same way). Throws std::runtime_error when the prefix is not writable.
std::vector<PemPair> default_certificates(const std::string& prefix,
                                          const std::string& name = "gatehouse-default");

}  // namespace gh::tls
