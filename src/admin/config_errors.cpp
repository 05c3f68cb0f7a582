#include "admin/config_errors.h"

#include <cctype>
#include <optional>
#include <set>
#include <vector>

namespace gh::admin {

using nlohmann::json;

namespace {

constexpr int kDeclarativeConfig = 14;  // kong/db/errors.lua

// One step of an entity path: "routes[1] (name 'a')" → {routes, 1, a}.
struct Step {
  std::string name;
  std::optional<size_t> index;
  std::string entity_name;
};

struct ParsedError {
  std::vector<Step> path;  // empty: the error is about the document
  std::string message;
};

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '@';
}

// Reads "name[n] (name 'x')" steps joined by '.', up to ": ". nullopt when `text` has no path.
std::optional<std::vector<Step>> read_path(std::string_view text, size_t& at) {
  std::vector<Step> steps;
  while (true) {
    Step step;
    size_t start = at;
    while (at < text.size() && is_name_char(text[at])) ++at;
    if (at == start) return std::nullopt;
    step.name = std::string(text.substr(start, at - start));
    if (at < text.size() && text[at] == '[') {
      size_t close = text.find(']', at);
      if (close == std::string_view::npos) return std::nullopt;
      try {
        step.index = std::stoul(std::string(text.substr(at + 1, close - at - 1)));
      } catch (const std::exception&) {
        return std::nullopt;
      }
      at = close + 1;
    }
    for (std::string_view label : {" (name '", " (username '"}) {
      if (text.substr(at, label.size()) != label) continue;
      size_t close = text.find("')", at + label.size());
      if (close == std::string_view::npos) return std::nullopt;
      step.entity_name = std::string(text.substr(at + label.size(), close - at - label.size()));
      at = close + 2;
    }
    steps.push_back(std::move(step));
    if (text.substr(at, 2) == ": ") {
      at += 2;
      return steps;
    }
    if (at >= text.size() || text[at] != '.') return std::nullopt;
    ++at;
  }
}

// "config:12: services[0].host: must not be empty" → path and message (the source and line go).
ParsedError parse_line(std::string_view line) {
  if (auto colon = line.find(": ");
      colon != std::string_view::npos && line.substr(0, colon).find(' ') == std::string_view::npos)
    line.remove_prefix(colon + 2);  // "config:12" or "config"
  size_t at = 0;
  if (auto path = read_path(line, at)) return {std::move(*path), std::string(line.substr(at))};
  return {{}, std::string(line)};
}

// Kong's `fields`: the error at its place in the document's structure.
void place(json& fields, const ParsedError& error) {
  if (error.path.empty()) {
    fields["@entity"].push_back(error.message);
    return;
  }
  json* at = &fields;
  for (size_t i = 0; i < error.path.size(); ++i) {
    const auto& step = error.path[i];
    const bool last = i + 1 == error.path.size();
    json& slot = (*at)[step.name];
    if (step.index) {
      if (!slot.is_array()) slot = json::array();
      while (slot.size() <= *step.index) slot.push_back(nullptr);
      at = &slot[*step.index];
    } else {
      at = &slot;
    }
    if (last)
      *at = error.message;
    else if (!at->is_object())
      *at = json::object();
  }
}

const std::set<std::string>& entity_types() {
  static const std::set<std::string> types = {"services",
                                              "routes",
                                              "consumers",
                                              "plugins",
                                              "upstreams",
                                              "targets",
                                              "certificates",
                                              "snis",
                                              "ca_certificates",
                                              "keyauth_credentials",
                                              "basicauth_credentials",
                                              "acls",
                                              "jwt_secrets",
                                              "hmacauth_credentials",
                                              "oauth2_credentials"};
  return types;
}

// Kong's flattened entry for an error inside an entity (the innermost one on its path).
std::optional<json> flattened(const ParsedError& error) {
  std::optional<size_t> owner;
  for (size_t i = 0; i < error.path.size(); ++i)
    if (error.path[i].index && entity_types().count(error.path[i].name)) owner = i;
  if (!owner) return std::nullopt;
  const auto& entity = error.path[*owner];
  std::string type = entity.name;
  if (type.ends_with("s")) type.pop_back();
  std::string field;
  for (size_t i = *owner + 1; i < error.path.size(); ++i) {
    field += (field.empty() ? "" : ".") + error.path[i].name;
    if (error.path[i].index) field += "." + std::to_string(*error.path[i].index + 1);  // Lua's 1-based
  }
  json detail = field.empty() ? json{{"type", "entity"}, {"message", error.message}}
                              : json{{"type", "field"}, {"field", field}, {"message", error.message}};
  json out = {{"entity_type", type}, {"errors", json::array({detail})}};
  if (!entity.entity_name.empty()) out["entity_name"] = entity.entity_name;
  return out;
}

}  // namespace

json declarative_error(const std::string& errors, bool flatten) {
  json fields = json::object();
  json flat = json::array();
  std::string summary;
  size_t start = 0;
  while (start < errors.size()) {
    size_t end = errors.find('\n', start);
    if (end == std::string::npos) end = errors.size();
    std::string_view line(errors.data() + start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    auto parsed = parse_line(line);
    // Kong moves what it flattens out of `fields`.
    auto entry = flatten ? flattened(parsed) : std::nullopt;
    if (entry)
      flat.push_back(std::move(*entry));
    else
      place(fields, parsed);
    summary += (summary.empty() ? "" : "; ") + std::string(line);
  }
  json out = {{"code", kDeclarativeConfig},
              {"name", "invalid declarative configuration"},
              {"message", "declarative config is invalid: " + summary},
              {"fields", fields}};
  if (flatten) out["flattened_errors"] = flat;
  return out;
}

}  // namespace gh::admin
