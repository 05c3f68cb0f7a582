#include "pluginserver/schema.h"

#include <cmath>
#include <stdexcept>

#include "pluginserver/lua_pattern.h"

namespace gh::pluginserver {

namespace {

using nlohmann::json;

class Validator {
 public:
  std::vector<std::string> errors;

  void record(const json& spec, json& value, const std::string& path) {
    if (!value.is_object()) return fail(path, "expected a record");
    translate_shorthands(spec, value, path);
    const json fields = spec.value("fields", json::array());
    for (const auto& entry : fields) {
      if (!entry.is_object() || entry.size() != 1) continue;
      const std::string& name = entry.begin().key();
      const json& field = entry.begin().value();
      const std::string field_path = path + "." + name;
      auto it = value.find(name);
      if (it == value.end() || it->is_null()) {
        if (!fill_missing(field, value, name, field_path)) continue;
        it = value.find(name);
      }
      check(field, *it, field_path);
    }
    for (auto it = value.begin(); it != value.end(); ++it)
      if (!declares(fields, it.key())) fail(path + "." + it.key(), "unknown field");
  }

  void check(const json& spec, json& value, const std::string& path) {
    if (!spec.is_object()) return;
    const std::string type = spec.value("type", "");
    if (type == "string") {
      if (!value.is_string()) return fail(path, "expected a string");
      const auto& text = value.get_ref<const std::string&>();
      // Kong rejects empty strings unless the field says len_min = 0.
      if (!length_ok(spec, text.size(), path, 1)) return;
      if (auto m = spec.find("match"); m != spec.end() && m->is_string()) {
        try {
          if (!lua_find(text, m->get<std::string>()))  // Kong: the field's own `err`, if it has one
            return fail(path, spec.value("err", "invalid value: " + text));
        } catch (const std::runtime_error& e) {
          return fail(path, std::string("schema error: ") + e.what());
        }
      }
    } else if (type == "number") {
      if (!value.is_number()) return fail(path, "expected a number");
      if (!between_ok(spec, value.get<double>(), path)) return;
    } else if (type == "integer") {
      if (!value.is_number() || std::floor(value.get<double>()) != value.get<double>())
        return fail(path, "expected an integer");
      if (value.is_number_float()) value = static_cast<std::int64_t>(value.get<double>());
      if (!between_ok(spec, value.get<double>(), path)) return;
    } else if (type == "boolean") {
      if (!value.is_boolean()) return fail(path, "expected a boolean");
    } else if (type == "array" || type == "set") {
      if (!value.is_array()) return fail(path, type == "set" ? "expected a set" : "expected an array");
      if (!length_ok(spec, value.size(), path, 0)) return;
      if (auto elements = spec.find("elements"); elements != spec.end())
        for (std::size_t i = 0; i < value.size(); ++i)
          check(*elements, value[i], path + "[" + std::to_string(i + 1) + "]");
      if (type == "set") remove_duplicates(value);
    } else if (type == "map") {
      if (!value.is_object()) return fail(path, "expected a map");
      if (!length_ok(spec, value.size(), path, 0)) return;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (auto keys = spec.find("keys"); keys != spec.end()) {
          json key = it.key();
          check(*keys, key, path + "." + it.key() + " (key)");
        }
        if (auto values = spec.find("values"); values != spec.end())
          check(*values, it.value(), path + "." + it.key());
      }
    } else if (type == "record") {
      record(spec, value, path);
    }
    one_of_ok(spec, value, path);
  }

 private:
  void fail(const std::string& path, const std::string& message) { errors.push_back(path + ": " + message); }

  // Kong's shorthand_fields (deprecated names kept for old configs): a value given under the
  // shorthand's name moves to the field its "translate_to" path names (e.g. redis_host →
  // redis.host), replacing what is there, before the record's fields are checked.
  void translate_shorthands(const json& spec, json& value, const std::string& path) {
    for (const auto& entry : spec.value("shorthand_fields", json::array())) {
      if (!entry.is_object() || entry.size() != 1) continue;
      const std::string& name = entry.begin().key();
      const json& shorthand = entry.begin().value();
      auto it = value.find(name);
      if (it == value.end()) continue;
      json given = std::move(*it);
      value.erase(name);
      const json target = shorthand.value("translate_to", json::array());
      if (given.is_null() || !target.is_array() || target.empty()) continue;
      const size_t before = errors.size();
      check(shorthand, given, path + "." + name);
      if (errors.size() != before) continue;
      json* place = &value;
      for (const auto& step : target) {
        if (!place->is_object()) *place = json::object();
        place = &(*place)[step.get<std::string>()];
      }
      *place = std::move(given);
    }
  }

  static bool declares(const json& fields, const std::string& name) {
    for (const auto& entry : fields)
      if (entry.is_object() && entry.contains(name)) return true;
    return false;
  }

  // Whether a record without a value should get one ({}), because something inside has a
  // default or is required.
  static bool has_defaults(const json& spec) {
    if (!spec.is_object() || spec.value("type", "") != "record") return false;
    for (const auto& entry : spec.value("fields", json::array())) {
      if (!entry.is_object() || entry.size() != 1) continue;
      const json& field = entry.begin().value();
      if (!field.is_object()) continue;
      if ((field.contains("default") && !field["default"].is_null()) || field.value("required", false) ||
          has_defaults(field))
        return true;
    }
    return false;
  }

  // Fills a missing field; returns true if it now has a value to check.
  bool fill_missing(const json& field, json& parent, const std::string& name, const std::string& path) {
    if (!field.is_object()) return false;
    if (auto d = field.find("default"); d != field.end() && !d->is_null()) {
      parent[name] = *d;
      return true;
    }
    if (has_defaults(field)) {
      parent[name] = json::object();
      return true;
    }
    if (field.value("required", false)) fail(path, "required field missing");
    return false;
  }

  bool length_ok(const json& spec, std::size_t length, const std::string& path, std::size_t implicit_min) {
    std::size_t min = implicit_min;
    if (auto m = spec.find("len_min"); m != spec.end() && m->is_number()) min = m->get<std::size_t>();
    if (length < min) {
      fail(path, "length must be at least " + std::to_string(min));
      return false;
    }
    if (auto m = spec.find("len_max"); m != spec.end() && m->is_number() && length > m->get<std::size_t>()) {
      fail(path, "length must be at most " + std::to_string(m->get<std::size_t>()));
      return false;
    }
    return true;
  }

  bool between_ok(const json& spec, double number, const std::string& path) {
    if (auto gt = spec.find("gt"); gt != spec.end() && gt->is_number() && !(number > gt->get<double>())) {
      fail(path, "value must be greater than " + gt->dump());
      return false;
    }
    auto b = spec.find("between");
    if (b == spec.end() || !b->is_array() || b->size() != 2 || !(*b)[0].is_number() || !(*b)[1].is_number())
      return true;
    if (number < (*b)[0].get<double>() || number > (*b)[1].get<double>()) {
      fail(path, "value should be between " + (*b)[0].dump() + " and " + (*b)[1].dump());
      return false;
    }
    return true;
  }

  void one_of_ok(const json& spec, const json& value, const std::string& path) {
    auto options = spec.find("one_of");
    if (options == spec.end() || !options->is_array()) return;
    for (const auto& option : *options)
      if (option == value) return;
    std::string list;
    for (const auto& option : *options)
      list += (list.empty() ? "" : ", ") + (option.is_string() ? option.get<std::string>() : option.dump());
    fail(path, "expected one of: " + list);
  }

  static void remove_duplicates(json& array) {
    json unique = json::array();
    for (auto& element : array)
      if (std::find(unique.begin(), unique.end(), element) == unique.end()) unique.push_back(element);
    array = std::move(unique);
  }
};

// The `config` record of a plugin schema, or nullptr if it declares none.
const json* config_record(const json& schema) {
  if (!schema.is_object()) return nullptr;
  auto fields = schema.find("fields");
  if (fields == schema.end() || !fields->is_array()) return nullptr;
  for (const auto& entry : *fields)
    if (entry.is_object() && entry.contains("config")) return &entry["config"];
  return nullptr;
}

}  // namespace

std::vector<std::string> validate_config(const json& schema, json& config) {
  Validator validator;
  if (config.is_null()) config = json::object();
  const json* record = config_record(schema);
  if (!record) {
    if (!config.is_object()) return {"config: expected a record"};
    for (auto it = config.begin(); it != config.end(); ++it)
      validator.errors.push_back("config." + it.key() + ": unknown field");
    return validator.errors;
  }
  validator.record(*record, config, "config");
  return validator.errors;
}

std::vector<std::string> validate_scope(const json& schema, const PluginScope& scope) {
  std::vector<std::string> errors;
  if (!schema.is_object() || !schema.contains("fields") || !schema["fields"].is_array()) return errors;
  for (const auto& entry : schema["fields"]) {
    if (!entry.is_object() || entry.size() != 1) continue;
    const std::string& name = entry.begin().key();
    const json& field = entry.begin().value();
    // Only eq = null is a scope rule; Kong's other foreign-field validators do not occur here.
    if (!field.is_object() || !field.contains("eq") || !field["eq"].is_null()) continue;
    bool attached = (name == "consumer" && scope.consumer) || (name == "route" && scope.route) ||
                    (name == "service" && scope.service);
    if (attached) errors.push_back(name + ": value must be null");
  }
  return errors;
}

json no_consumer_field() {
  return {{"consumer", {{"type", "foreign"}, {"reference", "consumers"}, {"eq", nullptr}}}};
}

}  // namespace gh::pluginserver
