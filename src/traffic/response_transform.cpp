#include "traffic/response_transform.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/strings.h"
#include "traffic/request_transform.h"

namespace gh::traffic {

namespace {

using json = nlohmann::json;

bool truthy(const json* v) {
  return v && !(v->is_boolean() && !v->get<bool>());
}

// Lua's tonumber on a config string: decimal (or hex) numbers, nothing else.
std::optional<json> lua_number(const std::string& text) {
  std::string_view s = trim(text);
  if (s.empty()) return std::nullopt;
  std::string owned(s);
  char* end = nullptr;
  if (owned.find_first_of(".eEnN") == std::string::npos) {
    long long n = std::strtoll(owned.c_str(), &end, 0);
    if (end && *end == '\0') return json(n);
  }
  double d = std::strtod(owned.c_str(), &end);
  if (!end || *end != '\0') return std::nullopt;
  return json(d);
}

}  // namespace

std::vector<std::string> ResponseTransform::validate(const json& config) {
  std::vector<std::string> errors;
  static constexpr const char* kSections[] = {"remove", "rename", "replace", "add", "append"};
  for (const char* section : kSections) {
    auto s = config.find(section);
    if (s == config.end() || !s->is_object()) continue;
    bool needs_value = std::string_view(section) != "remove";
    for (const char* field : {"headers", "json"}) {
      auto list = s->find(field);
      if (list == s->end() || !list->is_array()) continue;
      for (size_t i = 0; i < list->size(); ++i) {
        std::string entry = (*list)[i].is_string() ? (*list)[i].get<std::string>() : "";
        auto pair = split_pair(entry);
        std::string where = fmt::format("config.{}.{}[{}]: ", section, field, i + 1);
        if (!pair || (needs_value && entry.find(':') == std::string::npos)) {
          errors.push_back(where + "invalid value: " + entry);
        } else if (std::string_view(field) == "headers" && !http::is_valid_header_name(pair->name)) {
          errors.push_back(where + "'" + pair->name + "' is not a valid header");
        } else if (std::string_view(field) == "headers" && !http::is_valid_header_value(pair->value)) {
          errors.push_back(where + "the value of '" + pair->name + "' is not a valid header value");
        }
      }
    }
  }
  return errors;
}

ResponseTransform::Section ResponseTransform::compile(const json& config, const char* name) {
  Section s;
  auto section = config.find(name);
  if (section == config.end() || !section->is_object()) return s;
  auto fill = [&](const char* field, std::vector<Op>& ops) {
    auto list = section->find(field);
    if (list == section->end() || !list->is_array()) return;
    auto types = section->find("json_types");
    for (size_t i = 0; i < list->size(); ++i) {
      if (!(*list)[i].is_string()) continue;
      auto pair = split_pair((*list)[i].get<std::string>());
      if (!pair) continue;
      Op op{pair->name, std::nullopt, ""};
      if (!pair->value.empty()) op.value = pair->value;
      if (std::string_view(field) == "json" && types != section->end() && types->is_array() &&
          i < types->size() && (*types)[i].is_string())
        op.json_type = (*types)[i].get<std::string>();
      ops.push_back(std::move(op));
    }
  };
  fill("headers", s.headers);
  fill("json", s.json);
  return s;
}

ResponseTransform::ResponseTransform(const json& config)
    : remove_(compile(config, "remove")),
      rename_(compile(config, "rename")),
      replace_(compile(config, "replace")),
      add_(compile(config, "add")),
      append_(compile(config, "append")) {}

bool ResponseTransform::has_body_ops() const {
  return !remove_.json.empty() || !rename_.json.empty() || !replace_.json.empty() || !add_.json.empty() ||
         !append_.json.empty();
}

bool ResponseTransform::is_json(std::optional<std::string_view> content_type) {
  if (!content_type) return false;
  for (const auto& part : split_list(*content_type, ',')) {
    std::string media = to_lower(trim(std::string_view(part).substr(0, part.find(';'))));
    size_t slash = media.find('/');
    if (slash == std::string::npos) continue;
    std::string_view type = std::string_view(media).substr(0, slash);
    std::string_view subtype = std::string_view(media).substr(slash + 1);
    if ((type == "application" || type == "*") &&
        (subtype == "json" || subtype == "*" || subtype.ends_with("+json")))
      return true;
  }
  return false;
}

void ResponseTransform::transform_headers(http::Headers& headers) const {
  for (const auto& op : remove_.headers) headers.remove(op.name);
  for (const auto& op : rename_.headers) {
    if (!op.value || !headers.has(op.name)) continue;
    std::string value(*headers.get(op.name));
    headers.set(*op.value, std::move(value));
    headers.remove(op.name);
  }
  for (const auto& op : replace_.headers)
    if (op.value && headers.has(op.name)) headers.set(op.name, *op.value);
  for (const auto& op : add_.headers)
    if (op.value && !headers.has(op.name)) headers.set(op.name, *op.value);
  for (const auto& op : append_.headers)
    if (op.value) headers.add(op.name, *op.value);
  if (has_body_ops() && is_json(headers.get("Content-Type"))) headers.remove("Content-Length");
}

std::optional<json> ResponseTransform::typed_value(const Op& op) {
  if (!op.value) return std::nullopt;
  if (op.json_type == "number") return lua_number(*op.value);
  if (op.json_type == "boolean") return json(*op.value == "true");
  return json(*op.value);
}

std::optional<std::string> ResponseTransform::transform_body(std::string_view body) const {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  for (const auto& op : remove_.json) doc.erase(op.name);
  for (const auto& op : rename_.json) {
    auto it = doc.find(op.name);
    if (!op.value || it == doc.end()) continue;
    json value = *it;
    doc.erase(op.name);
    doc[*op.value] = std::move(value);
  }
  for (const auto& op : replace_.json) {
    auto v = typed_value(op);
    auto it = doc.find(op.name);
    if (v && it != doc.end() && truthy(&*it)) *it = std::move(*v);
  }
  for (const auto& op : add_.json) {
    auto v = typed_value(op);
    auto it = doc.find(op.name);
    if (v && (it == doc.end() || !truthy(&*it))) doc[op.name] = std::move(*v);
  }
  for (const auto& op : append_.json) {
    auto v = typed_value(op);
    if (!v) continue;
    auto it = doc.find(op.name);
    if (it != doc.end() && it->is_string()) {
      *it = json::array({*it, *v});
    } else if (it != doc.end() && it->is_array()) {
      it->push_back(*v);
    } else {
      doc[op.name] = json::array({*v});
    }
  }
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace gh::traffic
