// Kong's 400 answer to an invalid declarative configuration (POST /config): code 14, "invalid
// declarative configuration", the message, `fields` nested along the entity path, and with
// flatten_errors Kong's `flattened_errors` entries ({entity_type, entity_name, errors: [{type,
// field, message}]}). Built from gatehouse's error lines ("config:12: services[0] (name 'a')
// .routes[1].paths[0]: must start with '/'"), one per error found.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gh::admin {

nlohmann::json declarative_error(const std::string& errors, bool flatten);

}  // namespace gh::admin
