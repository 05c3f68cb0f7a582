// Plugin configuration: declare each field once and get both the JSON decoding (the config Kong
// sends to StartInstance) and the schema reported by -dump (Kong's schema syntax).
//
//   struct MyConfig {
//     std::string message = "hello";
//     std::vector<std::string> keys;
//     int limit = 10;
//     static auto fields() {
//       using namespace gatehouse::pdk;
//       return schema_fields(field("message", &MyConfig::message).with_default(),
//                            field("keys", &MyConfig::keys).required(),
//                            field("limit", &MyConfig::limit).between(1, 100));
//     }
//   };
//
// Types: std::string → string, bool → boolean, integers → integer, floating point → number,
// std::vector<T> → array, std::map<std::string, T> → map, std::optional<T> → T, and any struct
// with its own fields() → record (nested).
#pragma once

#include <gatehouse/pdk/types.h>

#include <algorithm>
#include <concepts>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace gatehouse::pdk {

// Key order matters in -dump output ("type" first, as go-pdk prints it).
using SchemaJson = nlohmann::ordered_json;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class Owner, class T>
struct Field {
  const char* name = nullptr;
  T Owner::*member = nullptr;
  bool is_required = false;
  bool has_default = false;
  std::vector<Value> allowed;                      // one_of
  std::optional<std::pair<double, double>> range;  // between

  Field required() const {
    auto f = *this;
    f.is_required = true;
    return f;
  }
  // Reports the member's initial value (of a default-constructed Owner) as the schema default.
  Field with_default() const {
    auto f = *this;
    f.has_default = true;
    return f;
  }
  Field one_of(std::vector<Value> values) const {
    auto f = *this;
    f.allowed = std::move(values);
    return f;
  }
  Field between(double low, double high) const {
    auto f = *this;
    f.range = {low, high};
    return f;
  }
};

template <class Owner, class T>
Field<Owner, T> field(const char* name, T Owner::*member) {
  Field<Owner, T> f;
  f.name = name;
  f.member = member;
  return f;
}

template <class... Fields>
auto schema_fields(Fields... fields) {
  return std::tuple<Fields...>{std::move(fields)...};
}

template <class T>
concept Record = requires {
  T::fields();
};

namespace detail {
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class T>
struct is_string_map<std::map<std::string, T>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
SchemaJson schema_of();

template <class Owner, class T>
SchemaJson field_schema(const Field<Owner, T>& f);

template <class T>
SchemaJson schema_of() {
  if constexpr (is_optional<T>::value) {
    return schema_of<typename T::value_type>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return {{"type", "string"}};
  } else if constexpr (std::is_same_v<T, bool>) {
    return {{"type", "boolean"}};
  } else if constexpr (std::is_integral_v<T>) {
    return {{"type", "integer"}};
  } else if constexpr (std::is_floating_point_v<T>) {
    return {{"type", "number"}};
  } else if constexpr (is_vector<T>::value) {
    return {{"type", "array"}, {"elements", schema_of<typename T::value_type>()}};
  } else if constexpr (is_string_map<T>::value) {
    return {
        {"type", "map"}, {"keys", {{"type", "string"}}}, {"values", schema_of<typename T::mapped_type>()}};
  } else {
    static_assert(Record<T>,
                  "config field type: string, bool, number, vector, map<string,T>, optional or a record");
    SchemaJson fields = SchemaJson::array();
    std::apply(
        [&](const auto&... f) {
          (fields.push_back(SchemaJson{{f.name, field_schema(f)}}), ...);
        },
        T::fields());
    return {{"type", "record"}, {"fields", std::move(fields)}};
  }
}

template <class T>
Value encode(const T& v) {
  if constexpr (is_optional<T>::value) {
    return v ? encode(*v) : Value(nullptr);
  } else if constexpr (is_vector<T>::value) {
    Value out = Value::array();
    for (const auto& e : v) out.push_back(encode(e));
    return out;
  } else if constexpr (is_string_map<T>::value) {
    Value out = Value::object();
    for (const auto& [k, e] : v) out[k] = encode(e);
    return out;
  } else if constexpr (Record<T>) {
    Value out = Value::object();
    std::apply([&](const auto&... f) { ((out[f.name] = encode(v.*(f.member))), ...); }, T::fields());
    return out;
  } else {
    return Value(v);
  }
}

template <class Owner, class T>
SchemaJson field_schema(const Field<Owner, T>& f) {
  SchemaJson s = schema_of<T>();
  if (f.is_required) s["required"] = true;
  if (f.has_default) s["default"] = SchemaJson::parse(encode(Owner{}.*(f.member)).dump());
  if (!f.allowed.empty()) s["one_of"] = SchemaJson::parse(Value(f.allowed).dump());
  if (f.range) s["between"] = {f.range->first, f.range->second};
  return s;
}

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw ConfigError("config." + path + ": " + what);
}

template <class Owner, class T>
void decode_field(const Value& record, Owner& out, const Field<Owner, T>& f, const std::string& path);

template <class T>
void decode(const Value& j, T& out, const std::string& path) {
  if constexpr (is_optional<T>::value) {
    decode(j, out.emplace(), path);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) fail(path, "expected a string");
    out = j.get<std::string>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) fail(path, "expected a boolean");
    out = j.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!j.is_number_integer() &&
        !(j.is_number_float() && j.get<double>() == static_cast<T>(j.get<double>())))
      fail(path, "expected an integer");
    out = static_cast<T>(j.is_number_float() ? j.get<double>() : j.get<std::int64_t>());
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!j.is_number()) fail(path, "expected a number");
    out = j.get<T>();
  } else if constexpr (is_vector<T>::value) {
    if (!j.is_array()) fail(path, "expected an array");
    out.clear();
    for (std::size_t i = 0; i < j.size(); ++i)
      decode(j[i], out.emplace_back(), path + "[" + std::to_string(i) + "]");
  } else if constexpr (is_string_map<T>::value) {
    if (!j.is_object()) fail(path, "expected a map");
    out.clear();
    for (const auto& [k, v] : j.items()) decode(v, out[k], path + "." + k);
  } else {
    if (!j.is_object()) fail(path, "expected a record");
    std::apply([&](const auto&... f) { (decode_field(j, out, f, path), ...); }, T::fields());
  }
}

template <class Owner, class T>
void check_constraints(const Field<Owner, T>& f, const Value& j, const std::string& path) {
  if (!f.allowed.empty() && std::find(f.allowed.begin(), f.allowed.end(), j) == f.allowed.end())
    fail(path, "expected one of: " + Value(f.allowed).dump());
  if (f.range && j.is_number() && (j.get<double>() < f.range->first || j.get<double>() > f.range->second))
    fail(path,
         "value should be between " + Value(f.range->first).dump() + " and " + Value(f.range->second).dump());
}

template <class Owner, class T>
void decode_field(const Value& record, Owner& out, const Field<Owner, T>& f, const std::string& path) {
  std::string field_path = path.empty() ? f.name : path + "." + f.name;
  auto it = record.find(f.name);
  if (it == record.end() || it->is_null()) {
    if (f.is_required) fail(field_path, "required field missing");
    return;  // keeps the member's initial value (the default)
  }
  check_constraints(f, *it, field_path);
  decode(*it, out.*(f.member), field_path);
}
}  // namespace detail

// The "config" record of a plugin's schema.
template <Record Config>
SchemaJson config_schema() {
  return detail::schema_of<Config>();
}

// Decodes the configuration JSON Kong sends (unknown keys such as __seq__ are ignored).
// Throws ConfigError naming the offending field.
template <Record Config>
Config decode_config(const Value& json) {
  Config config{};
  detail::decode(json, config, "");
  return config;
}

}  // namespace gatehouse::pdk
