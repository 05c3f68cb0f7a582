// Kong's declarative configuration (kong.yml, _format_version "3.0", "2.1" or "1.1") → typed,
// validated entities (conf/entities.h). Validation follows Kong's schemas; every error names the
// file, the line, the entity and the field.
#pragma once

#include <string>

#include "conf/entities.h"
#include "conf/properties.h"

namespace gh::conf {

// Parses and validates; throws ConfigError ("kong.yml:12: routes[2] (name 'api').paths[0]: ...").
Declarative load_declarative(const std::string& path);
Declarative parse_declarative(const std::string& yaml_text, const std::string& file_name_for_errors);
// The text of `path`, refused when larger than the YAML guard's limit (yaml_guard.h).
std::string read_declarative_file(const std::string& path);

// Where the declarative configuration of `properties` comes from, as Kong reads it:
// declarative_config_string when set, else the declarative_config file; none (name "") otherwise.
struct DeclarativeSource {
  std::string text;
  std::string name;  // the file path, or "declarative_config_string", for error messages
};
DeclarativeSource declarative_source(const Properties& properties);

// A deterministic UUID (version-5 layout) derived from `seed`: the same entity keeps the same id
// across reloads when kong.yml gives none.
std::string deterministic_uuid(std::string_view seed);
bool is_uuid(std::string_view text);
// Targets carry no id in kong.yml: the Admin API shows this one, derived from the upstream and target.
std::string target_id(const Upstream& upstream, size_t target_index);

// Both layers at once, for `gatehouse start` and `gatehouse config check`: the properties file
// (and environment), then the declarative_config it names (if any).
struct Configuration {
  Properties properties;
  Declarative declarative;
};
Configuration load_configuration(const std::string& conf_path, const std::map<std::string, std::string>& env);

}  // namespace gh::conf
