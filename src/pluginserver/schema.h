// Validation of plugin configurations against the Kong schema a plugin server reports
// (kong-gateway-side.md §3.4). Supports the field types string, number, integer, boolean, array,
// set, map, record and the validators required, default, one_of, between, len_min, len_max,
// match (a Lua pattern), gt, with nested fields, elements, keys and values, and a record's
// shorthand_fields ({"old_name": {"type", "translate_to": ["record", "field"]}}).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gh::pluginserver {

// Validates `config` against the `config` record of a plugin `schema` ({"name", "fields":
// [{"config": {...}}, ...]}) and fills defaults in place. Returns the errors, each
// "config.<field.path>: message" with Kong's messages ("required field missing", "expected a
// string", "unknown field", ...). Array elements are addressed 1-based as in Kong: config.list[1].
std::vector<std::string> validate_config(const nlohmann::json& schema, nlohmann::json& config);

// The scopes a plugin entity is attached to, for the schema's top-level `consumer`, `route` and
// `service` fields.
struct PluginScope {
  bool consumer = false, route = false, service = false;
};

// Kong's typedefs.no_consumer / no_route / no_service: a top-level schema field
// {"consumer": {"type": "foreign", "reference": "consumers", "eq": null}} forbids that scope.
// Returns Kong's errors ("consumer: value must be null") for the scopes the schema forbids.
std::vector<std::string> validate_scope(const nlohmann::json& schema, const PluginScope& scope);

// The schema entry of typedefs.no_consumer (the authentication plugins and cors: a consumer
// cannot be the scope of the plugin that finds the consumer).
nlohmann::json no_consumer_field();

}  // namespace gh::pluginserver
