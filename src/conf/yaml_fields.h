// Typed, located access to kong.yml nodes. A Field knows its file, its YAML node (hence its line)
// and its entity path ("services[0] (name 'a').routes[1]"), so every validation error is one call:
// field.fail("must start with '/'") → "kong.yml:12: services[0] (name 'a').routes[1].paths[0]: must ...".
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gh::conf {

struct Field {
  std::string file;
  YAML::Node node;
  std::string path;  // "" for the document root

  std::string location() const;  // "file:line: path" (no path for the root)
  [[noreturn]] void fail(const std::string& message) const;

  // The child under `key`, or nullopt when missing or null.
  std::optional<Field> child(const std::string& key) const;
  Field item(size_t index) const;

  std::string scalar() const;  // fails unless a scalar
  std::vector<std::string> as_string_list() const;

  std::string string_or(const std::string& key, const std::string& fallback) const;
  int int_or(const std::string& key, int fallback, int min_value, int max_value) const;
  bool bool_or(const std::string& key, bool fallback) const;
  std::vector<std::string> string_list(const std::string& key) const;  // missing → empty
  // Fails on the first key not in `allowed` (Kong rejects unknown fields).
  void allow_only(const std::set<std::string>& allowed) const;
};

// YAML → JSON with YAML 1.2 core-schema typing of plain scalars (quoted scalars stay strings).
// Fails (ConfigError at the value's line) on a plain number beyond a double's range.
nlohmann::json yaml_to_json(const Field& field);

std::optional<long long> parse_int_text(const std::string& text);
std::string expected_one_of(const std::set<std::string>& values);

}  // namespace gh::conf
