// Checking PEM certificates and keys where they are configured (kong.yml `certificates`,
// kong.conf `ssl_cert`/`ssl_cert_key`), so a bad one is refused with its file, line and field
// by `config check`, start and reload, never discovered at the first handshake.
#pragma once

#include <string>
#include <string_view>

namespace gh::conf {

// Each returns "" when fine, otherwise what is wrong (for the caller to prefix with where).
// `pem` holds at least one X.509 certificate (the leaf first, then its chain).
std::string check_certificates(std::string_view pem);
// `pem` holds an unencrypted private key.
std::string check_private_key(std::string_view pem);
// The key in `key_pem` is the one of the first certificate in `cert_pem` (both already checked).
std::string check_key_matches(std::string_view cert_pem, std::string_view key_pem);

}  // namespace gh::conf
