#include "auth/entities.h"

namespace gh::auth {

namespace {

nlohmann::json base(const std::string& id, const std::string& consumer_id,
                    const std::vector<std::string>& tags) {
  nlohmann::json j = {{"id", id}, {"consumer", {{"id", consumer_id}}}};
  if (!tags.empty()) j["tags"] = tags;
  return j;
}

}  // namespace

nlohmann::json credential_entity(const conf::KeyAuthCredential& c) {
  auto j = base(c.id, c.consumer_id, c.tags);
  j["key"] = c.key;
  if (c.ttl > 0) j["ttl"] = c.ttl;
  return j;
}

nlohmann::json credential_entity(const conf::BasicAuthCredential& c) {
  auto j = base(c.id, c.consumer_id, c.tags);
  j["username"] = c.username;
  j["password"] = c.password_hash;
  return j;
}

nlohmann::json credential_entity(const conf::JwtSecret& s) {
  auto j = base(s.id, s.consumer_id, s.tags);
  j["key"] = s.key;
  j["secret"] = s.secret;
  j["algorithm"] = s.algorithm;
  if (!s.rsa_public_key.empty()) j["rsa_public_key"] = s.rsa_public_key;
  return j;
}

}  // namespace gh::auth
