// basic-auth's reading of an Authorization / Proxy-Authorization value, as Kong reads it
// (plugins/basic-auth/access.lua): "Basic" (first letter in either case) anywhere in the value,
// optional spaces, then base64 of "username:password". The username is the first run of
// characters without ':'; the password is everything after the ':' that ends it (it may hold
// more ':'). Anything else is no credentials at all.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::auth {

struct BasicCredentials {
  std::string username;
  std::string password;
};

std::optional<BasicCredentials> parse_basic_authorization(std::string_view header_value);

// Whether `password` is the one whose Kong hash (conf::basic_auth_password_hash) is stored,
// compared in constant time.
bool basic_password_matches(std::string_view consumer_id, std::string_view password,
                            std::string_view stored_hash);

}  // namespace gh::auth
