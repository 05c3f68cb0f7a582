// Kong's Admin API representation of the loaded entities (the field names and nulls of Kong's
// schemas), and GET /config's export. Secrets are never rendered: credential secrets and private
// keys are replaced by kRedacted (docs/admin-api.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "conf/entities.h"

namespace gh::admin {

inline constexpr std::string_view kRedacted = "<redacted>";

// Each entity of `config` (which also holds the load time and kong.yml's created_at values that
// Kong's created_at / updated_at show).
nlohmann::json service_json(const conf::Declarative& config, const conf::Service& service);
nlohmann::json route_json(const conf::Declarative& config, const conf::Route& route);
nlohmann::json consumer_json(const conf::Declarative& config, const conf::Consumer& consumer);
nlohmann::json plugin_json(const conf::Declarative& config, const conf::Plugin& plugin);
nlohmann::json upstream_json(const conf::Declarative& config, const conf::Upstream& upstream);
nlohmann::json target_json(const conf::Declarative& config, const conf::Upstream& upstream, size_t index);
nlohmann::json certificate_json(const conf::Declarative& config, const conf::Certificate& certificate);
nlohmann::json ca_certificate_json(const conf::Declarative& config, const conf::CaCertificate& certificate);
// Every SNI of every certificate: {id, name, certificate: {id}, tags, created_at, updated_at}.
std::vector<nlohmann::json> snis_json(const conf::Declarative& config);

// The credentials of one kind (Kong's entity name, e.g. "keyauth_credentials") of one consumer
// (every consumer's when `consumer_id` is empty), secrets redacted, with their consumer reference.
std::vector<nlohmann::json> credentials_json(const conf::Declarative& config, std::string_view consumer_id,
                                             const std::string& kind);
// The credential kind of an Admin API path segment: per consumer ("key-auth" →
// "keyauth_credentials") or top-level ("key-auths"); "" if none.
std::string credential_kind(std::string_view segment, bool top_level);

// GET /config: the configuration in force as a declarative document (entities flat, with ids).
// Secrets are left out (credential keys, passwords, JWT secrets) or redacted (certificate keys):
// it loads again once they are put back.
nlohmann::json export_config(const conf::Declarative& config);

}  // namespace gh::admin
