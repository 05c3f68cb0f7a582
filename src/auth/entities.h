// The credential tables kong.client.get_credential() returns after a native auth plugin
// authenticated: Kong's entity shapes ({id, consumer = {id}, key, ...}), so an external plugin
// reading them cannot tell a native plugin from Kong's. basic-auth's carries the hash, as Kong's.
#pragma once

#include <nlohmann/json.hpp>

#include "conf/credentials.h"

namespace gh::auth {

nlohmann::json credential_entity(const conf::KeyAuthCredential& credential);
nlohmann::json credential_entity(const conf::BasicAuthCredential& credential);
nlohmann::json credential_entity(const conf::JwtSecret& secret);

}  // namespace gh::auth
