// Consumers' credentials from kong.yml (keyauth_credentials, basicauth_credentials, jwt_secrets,
// acls), nested under a consumer or top-level, with the lookup indexes the authentication plugins
// use. The indexes are built while the file loads (once per configuration snapshot), so a request
// finds its credential with one hash lookup whatever the number of consumers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace gh::conf {

struct KeyAuthCredential {
  std::string id;
  std::string consumer_id;
  std::string key;
  int ttl = 0;             // as written (seconds); 0: no expiry
  int64_t expires_at = 0;  // unix time the key stops working (load time + ttl); 0: never
  std::vector<std::string> tags;
};

struct BasicAuthCredential {
  std::string id;
  std::string consumer_id;
  std::string username;
  // Kong's hash (basic_auth_password_hash), never the password as written: what a config
  // holds in memory, shows to plugins or logs cannot give the password away.
  std::string password_hash;
  std::vector<std::string> tags;
};

struct JwtSecret {
  std::string id;
  std::string consumer_id;
  std::string key;  // matched against the token's key claim (config.key_claim_name)
  std::string secret;
  std::string algorithm = "HS256";
  std::string rsa_public_key;               // PEM; required by the RS*, PS*, ES*, EdDSA algorithms
  std::shared_ptr<evp_pkey_st> public_key;  // rsa_public_key parsed once at load (null for HS*)
  std::vector<std::string> tags;
};

struct AclGroup {
  std::string id;
  std::string consumer_id;
  std::string group;
  std::vector<std::string> tags;
};

// Transparent hashing: lookups take string_views straight from the request (no allocation).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIndex = std::unordered_map<std::string, size_t, StringHash, std::equal_to<>>;

class Credentials {
 public:
  // Each add refuses (returns false, adds nothing) a value Kong declares unique that is taken.
  bool add(KeyAuthCredential credential);
  bool add(BasicAuthCredential credential);
  bool add(JwtSecret secret);
  bool add(AclGroup acl);  // unique per (consumer, group)

  const KeyAuthCredential* find_key(std::string_view key) const;
  const BasicAuthCredential* find_basic(std::string_view username) const;
  const JwtSecret* find_jwt(std::string_view key) const;
  // The consumer's groups in file order; empty when it has none.
  const std::vector<std::string>& groups_of(std::string_view consumer_id) const;

  const std::vector<KeyAuthCredential>& keyauth() const { return keyauth_; }
  const std::vector<BasicAuthCredential>& basicauth() const { return basicauth_; }
  const std::vector<JwtSecret>& jwt() const { return jwt_; }
  const std::vector<AclGroup>& acls() const { return acls_; }
  size_t size() const { return keyauth_.size() + basicauth_.size() + jwt_.size() + acls_.size(); }

 private:
  std::vector<KeyAuthCredential> keyauth_;
  std::vector<BasicAuthCredential> basicauth_;
  std::vector<JwtSecret> jwt_;
  std::vector<AclGroup> acls_;
  StringIndex keyauth_by_key_, basicauth_by_username_, jwt_by_key_;
  std::unordered_map<std::string, std::vector<std::string>, StringHash, std::equal_to<>> groups_by_consumer_;
};

// Kong's basic-auth hash (plugins/basic-auth/crypto.lua): the lower-case hex SHA-1 of the
// password followed by the consumer's id. Kong stores only this, and so does gatehouse.
std::string basic_auth_password_hash(std::string_view consumer_id, std::string_view password);

// The algorithms a jwt_secrets entity may name, and those that verify with rsa_public_key.
bool is_jwt_algorithm(std::string_view algorithm);
bool jwt_algorithm_uses_public_key(std::string_view algorithm);
// "" when `key` can verify `algorithm` (RSA for RS*/PS*, the algorithm's curve for ES*,
// Ed25519/Ed448 for EdDSA), otherwise why
// not: Kong finds out only when a token fails, gatehouse refuses the configuration.
std::string jwt_key_problem(std::string_view algorithm, const evp_pkey_st* key);

// 32 random lower-case hex characters: Kong's value for a key or secret left out of kong.yml.
std::string random_token();

}  // namespace gh::conf
