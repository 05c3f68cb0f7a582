#include "auth/basic.h"

#include <openssl/crypto.h>

#include "auth/base64.h"
#include "conf/credentials.h"

namespace gh::auth {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

// Where the base64 text starts: after the first "Basic"/"basic" and the spaces following it.
std::optional<std::string_view> basic_payload(std::string_view value) {
  for (size_t at = 0; at + 5 <= value.size(); ++at) {
    if ((value[at] != 'B' && value[at] != 'b') || value.substr(at + 1, 4) != "asic") continue;
    std::string_view rest = value.substr(at + 5);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    if (rest.empty()) return std::nullopt;
    return rest;
  }
  return std::nullopt;
}

}  // namespace

std::optional<BasicCredentials> parse_basic_authorization(std::string_view header_value) {
  auto payload = basic_payload(header_value);
  if (!payload) return std::nullopt;
  auto decoded = base64_decode(*payload);
  if (!decoded) return std::nullopt;
  std::string_view text = *decoded;
  size_t start = text.find_first_not_of(':');
  if (start == std::string_view::npos) return std::nullopt;
  size_t colon = text.find(':', start);
  if (colon == std::string_view::npos) return std::nullopt;  // a username alone
  std::string_view password = text.substr(colon + 1);
  password = password.substr(0, password.find('\n'));  // Kong's (.*) stops at a line break
  return BasicCredentials{std::string(text.substr(start, colon - start)), std::string(password)};
}

bool basic_password_matches(std::string_view consumer_id, std::string_view password,
                            std::string_view stored_hash) {
  std::string hash = conf::basic_auth_password_hash(consumer_id, password);
  return hash.size() == stored_hash.size() &&
         CRYPTO_memcmp(hash.data(), stored_hash.data(), hash.size()) == 0;
}

}  // namespace gh::auth
