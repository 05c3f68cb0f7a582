// Checking PEM certificates and keys where they are configured (kong.yml `certificates`,
// kong.conf `ssl_cert`/`ssl_cert_key`), so a bad one is refused with its file, line and field
// by `config check`, start and reload, never discovered at the first handshake.
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace gh::conf {

// Each returns "" when fine, otherwise what is wrong (for the caller to prefix with where).
// `pem` holds at least one X.509 certificate (the leaf first, then its chain).
std::string check_certificates(std::string_view pem);
// `pem` holds an unencrypted private key.
std::string check_private_key(std::string_view pem);
// The key in `key_pem` is the one of the first certificate in `cert_pem` (both already checked).
std::string check_key_matches(std::string_view cert_pem, std::string_view key_pem);

// A PEM public key ("BEGIN PUBLIC KEY" or "BEGIN RSA PUBLIC KEY"), parsed once for the requests
// that verify with it; null with `error` set when `pem` holds none.
std::shared_ptr<evp_pkey_st> read_public_key(std::string_view pem, std::string& error);

}  // namespace gh::conf
