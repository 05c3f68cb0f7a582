#include "conf/credentials.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace gh::conf {

namespace {

template <typename T>
const T* find_in(const std::vector<T>& items, const StringIndex& index, std::string_view value) {
  auto it = index.find(value);
  return it == index.end() ? nullptr : &items[it->second];
}

std::string to_hex(const unsigned char* bytes, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 0xf];
  }
  return out;
}

}  // namespace

bool Credentials::add(KeyAuthCredential credential) {
  if (!keyauth_by_key_.emplace(credential.key, keyauth_.size()).second) return false;
  keyauth_.push_back(std::move(credential));
  return true;
}

bool Credentials::add(BasicAuthCredential credential) {
  if (!basicauth_by_username_.emplace(credential.username, basicauth_.size()).second) return false;
  basicauth_.push_back(std::move(credential));
  return true;
}

bool Credentials::add(JwtSecret secret) {
  if (!jwt_by_key_.emplace(secret.key, jwt_.size()).second) return false;
  jwt_.push_back(std::move(secret));
  return true;
}

bool Credentials::add(AclGroup acl) {
  auto& groups = groups_by_consumer_[acl.consumer_id];
  for (const auto& group : groups)
    if (group == acl.group) return false;
  groups.push_back(acl.group);
  acls_.push_back(std::move(acl));
  return true;
}

const KeyAuthCredential* Credentials::find_key(std::string_view key) const {
  return find_in(keyauth_, keyauth_by_key_, key);
}
const BasicAuthCredential* Credentials::find_basic(std::string_view username) const {
  return find_in(basicauth_, basicauth_by_username_, username);
}
const JwtSecret* Credentials::find_jwt(std::string_view key) const {
  return find_in(jwt_, jwt_by_key_, key);
}

const std::vector<std::string>& Credentials::groups_of(std::string_view consumer_id) const {
  static const std::vector<std::string> none;
  auto it = groups_by_consumer_.find(consumer_id);
  return it == groups_by_consumer_.end() ? none : it->second;
}

std::string basic_auth_password_hash(std::string_view consumer_id, std::string_view password) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
            EVP_DigestUpdate(ctx, consumer_id.data(), consumer_id.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest.data(), &size) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("SHA-1 is not available from OpenSSL");
  return to_hex(digest.data(), size);
}

bool is_jwt_algorithm(std::string_view algorithm) {
  return algorithm == "HS256" || algorithm == "HS384" || algorithm == "HS512" ||
         jwt_algorithm_uses_public_key(algorithm);
}

bool jwt_algorithm_uses_public_key(std::string_view algorithm) {
  return algorithm == "RS256" || algorithm == "RS384" || algorithm == "RS512" || algorithm == "PS256" ||
         algorithm == "PS384" || algorithm == "PS512" || algorithm == "ES256" || algorithm == "ES384" ||
         algorithm == "ES512" || algorithm == "EdDSA";
}

std::string jwt_key_problem(std::string_view algorithm, const evp_pkey_st* key) {
  if (algorithm.starts_with("RS") || algorithm.starts_with("PS"))
    return EVP_PKEY_is_a(key, "RSA") ? ""
                                     : "an " + std::string(algorithm) + " secret needs an RSA public key";
  if (algorithm == "EdDSA")
    return EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")
               ? ""
               : "an EdDSA secret needs an Ed25519 or Ed448 public key";
  const char* curve = algorithm == "ES256" ? "prime256v1" : algorithm == "ES384" ? "secp384r1" : "secp521r1";
  char name[64] = {};
  size_t length = 0;
  bool ec = EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_group_name(key, name, sizeof name, &length) == 1;
  if (ec && std::string_view(name, length) == curve) return "";
  return "an " + std::string(algorithm) + " secret needs an EC public key on curve " + curve;
}

std::string random_token() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("OpenSSL could not produce random bytes");
  return to_hex(bytes.data(), bytes.size());
}

}  // namespace gh::conf
