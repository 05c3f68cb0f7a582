#include "conf/yaml_fields.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <regex>

#include "conf/error.h"

namespace gh::conf {

std::string Field::location() const {
  std::string out = file;
  if (node.IsDefined() && node.Mark().line >= 0) out += ":" + std::to_string(node.Mark().line + 1);
  if (!path.empty()) out += ": " + path;
  return out;
}

void Field::fail(const std::string& message) const {
  throw ConfigError(location() + ": " + message);
}

std::optional<Field> Field::child(const std::string& key) const {
  if (!node.IsMap()) return std::nullopt;
  const YAML::Node& self = node;
  YAML::Node value = self[key];
  if (!value || value.IsNull()) return std::nullopt;
  return Field{file, value, path.empty() ? key : path + "." + key};
}

Field Field::item(size_t index) const {
  const YAML::Node& self = node;
  return Field{file, self[index], path + "[" + std::to_string(index) + "]"};
}

std::string Field::scalar() const {
  if (!node.IsScalar()) fail("expected a string");
  return node.Scalar();
}

std::vector<std::string> Field::as_string_list() const {
  if (!node.IsSequence()) fail("expected a list");
  std::vector<std::string> out;
  for (size_t i = 0; i < node.size(); ++i) out.push_back(item(i).scalar());
  return out;
}

std::string Field::string_or(const std::string& key, const std::string& fallback) const {
  auto value = child(key);
  return value ? value->scalar() : fallback;
}

int Field::int_or(const std::string& key, int fallback, int min_value, int max_value) const {
  auto value = child(key);
  if (!value) return fallback;
  auto number = parse_int_text(value->scalar());
  if (!number) value->fail("expected an integer, got '" + value->scalar() + "'");
  if (*number < min_value || *number > max_value)
    value->fail("value should be between " + std::to_string(min_value) + " and " + std::to_string(max_value));
  return static_cast<int>(*number);
}

bool Field::bool_or(const std::string& key, bool fallback) const {
  auto value = child(key);
  if (!value) return fallback;
  auto text = value->scalar();
  if (text == "true" || text == "True" || text == "TRUE" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "False" || text == "FALSE" || text == "no" || text == "off") return false;
  value->fail("expected a boolean, got '" + text + "'");
}

std::vector<std::string> Field::string_list(const std::string& key) const {
  auto value = child(key);
  return value ? value->as_string_list() : std::vector<std::string>{};
}

void Field::allow_only(const std::set<std::string>& allowed) const {
  for (const auto& entry : node) {
    auto key = entry.first.Scalar();
    if (!allowed.count(key))
      Field{file, entry.first, path.empty() ? key : path + "." + key}.fail("unknown field");
  }
}

nlohmann::json yaml_to_json(const Field& field) {
  const YAML::Node& node = field.node;
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      auto out = nlohmann::json::object();
      for (const auto& entry : node) {
        const std::string key = entry.first.Scalar();
        out[key] =
            yaml_to_json(Field{field.file, entry.second, field.path.empty() ? key : field.path + "." + key});
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      auto out = nlohmann::json::array();
      size_t index = 0;
      for (const auto& element : node)
        out.push_back(
            yaml_to_json(Field{field.file, element, field.path + "[" + std::to_string(index++) + "]"}));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "!") return text;  // quoted: always a string
      if (text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
      if (auto integer = parse_int_text(text)) return *integer;
      static const std::regex floating(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
      if (!std::regex_match(text, floating)) return text;
      // Past a double's range (1e999, or an integer of 310 digits) there is no JSON number to give
      // the plugin: refused here (std::stod threw std::out_of_range out of the loader). A value too
      // small for a double is its nearest, 0 or a subnormal, as Lua's tonumber gives it.
      errno = 0;
      const double value = std::strtod(text.c_str(), nullptr);
      if (errno == ERANGE && std::isinf(value)) field.fail("a number too large for a double");
      return value;
    }
    default:
      return nullptr;
  }
}

std::optional<long long> parse_int_text(const std::string& text) {
  long long out = 0;
  const char* begin = text.data();
  if (!text.empty() && text[0] == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), out);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return out;
}

std::string expected_one_of(const std::set<std::string>& values) {
  std::string out = "expected one of: ";
  bool first = true;
  for (const auto& v : values) {
    out += (first ? "" : ", ") + v;
    first = false;
  }
  return out;
}

}  // namespace gh::conf
