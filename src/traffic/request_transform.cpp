#include "traffic/request_transform.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/strings.h"
#include "pdk/shapes.h"
#include "traffic/multipart.h"

namespace gh::traffic {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxArgs = 100;  // ngx.decode_args' and kong.request.get_query's default

enum class BodyType { none, json, form, multipart };

BodyType body_type(std::optional<std::string_view> content_type) {
  if (!content_type) return BodyType::none;
  std::string ct = to_lower(*content_type);
  if (ct.find("application/json") != std::string::npos) return BodyType::json;
  if (ct.find("multipart/form-data") != std::string::npos) return BodyType::multipart;
  if (ct.find("application/x-www-form-urlencoded") != std::string::npos) return BodyType::form;
  return BodyType::none;
}

// Kong's append_value: a string becomes a list of both, a list grows, anything else is replaced
// by a one-element list.
json append_value(const json* current, const std::string& value) {
  if (current && current->is_string()) return json::array({*current, value});
  if (current && current->is_array()) {
    json list = *current;
    list.push_back(value);
    return list;
  }
  return json::array({value});
}

// Lua truthiness of a decoded JSON value (cjson.null is a userdata: true).
bool truthy(const json* v) {
  return v && !(v->is_boolean() && !v->get<bool>());
}

const json* find(const json& object, const std::string& key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const json kEmptyArray = json::array();

const json& list_of(const json& config, const char* section, const char* field) {
  auto s = config.find(section);
  if (s == config.end() || !s->is_object()) return kEmptyArray;
  auto f = s->find(field);
  return f != s->end() && f->is_array() ? *f : kEmptyArray;
}

}  // namespace

std::optional<ConfigPair> split_pair(std::string_view entry) {
  size_t colon = entry.find(':');
  if (colon == 0 || entry.empty()) return std::nullopt;
  if (colon == std::string_view::npos) return ConfigPair{std::string(entry), ""};
  size_t value_at = entry.find_first_not_of(':', colon);
  std::string value = value_at == std::string_view::npos ? "" : std::string(entry.substr(value_at));
  return ConfigPair{std::string(entry.substr(0, colon)), std::move(value)};
}

std::vector<std::string> RequestTransform::validate(const json& config) {
  std::vector<std::string> errors;
  static constexpr const char* kSections[] = {"remove", "rename", "replace", "add", "append"};
  static constexpr const char* kFields[] = {"body", "headers", "querystring"};
  for (const char* section : kSections) {
    bool needs_value = std::string_view(section) != "remove";
    for (const char* field : kFields) {
      const json& list = list_of(config, section, field);
      for (size_t i = 0; i < list.size(); ++i) {
        std::string where = fmt::format("config.{}.{}[{}]: ", section, field, i + 1);
        std::string entry = list[i].is_string() ? list[i].get<std::string>() : "";
        auto pair = split_pair(entry);
        if (!pair) {
          errors.push_back(where + "invalid value: '" + entry + "'");
          continue;
        }
        if (needs_value && pair->value.empty()) {
          errors.push_back(where + "key '" + pair->name + "' has no value");
          continue;
        }
        if (std::string_view(field) == "headers" && !http::is_valid_header_name(pair->name)) {
          errors.push_back(where + "'" + pair->name + "' is not a valid header");
          continue;
        }
        std::string error;
        if (needs_value && !Template::parse(pair->value, error))
          errors.push_back(where + "value '" + pair->value + "' is not in supported format, error:" + error);
      }
    }
  }
  if (auto uri = config.find("replace"); uri != config.end() && uri->is_object()) {
    if (auto u = uri->find("uri"); u != uri->end() && u->is_string()) {
      std::string error;
      if (!Template::parse(u->get<std::string>(), error))
        errors.push_back("config.replace.uri: value '" + u->get<std::string>() +
                         "' is not in supported format, error:" + error);
    }
  }
  return errors;
}

RequestTransform::Section RequestTransform::compile(const json& section) {
  Section s;
  auto fill = [&](const char* field, std::vector<Op>& ops) {
    auto it = section.find(field);
    if (it == section.end() || !it->is_array()) return;
    for (const auto& entry : *it) {
      if (!entry.is_string()) continue;
      auto pair = split_pair(entry.get<std::string>());
      if (!pair) continue;
      Op op{pair->name, std::nullopt};
      std::string error;
      if (!pair->value.empty()) op.value = Template::parse(pair->value, error);
      ops.push_back(std::move(op));
    }
  };
  if (!section.is_object()) return s;
  fill("body", s.body);
  fill("headers", s.headers);
  fill("querystring", s.querystring);
  return s;
}

RequestTransform::RequestTransform(const json& config) {
  auto section = [&](const char* name) { return compile(config.value(name, json::object())); };
  remove_ = section("remove");
  rename_ = section("rename");
  replace_ = section("replace");
  add_ = section("add");
  append_ = section("append");
  if (auto r = config.find("replace"); r != config.end() && r->is_object()) {
    if (auto u = r->find("uri"); u != r->end() && u->is_string()) {
      std::string error;
      uri_ = Template::parse(u->get<std::string>(), error);
    }
  }
  for (const auto* section : {&remove_, &rename_, &replace_, &add_, &append_})
    for (const auto* ops : {&section->body, &section->headers, &section->querystring})
      for (const auto& op : *ops) reads_query_ |= op.value && op.value->reads("query_params");
  reads_query_ |= uri_ && uri_->reads("query_params");
  if (auto m = config.find("http_method"); m != config.end() && m->is_string()) {
    std::string method;
    for (char c : m->get<std::string>())
      method += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    http_method_ = method;
  }
}

bool RequestTransform::has_body_ops() const {
  return !remove_.body.empty() || !rename_.body.empty() || !replace_.body.empty() || !add_.body.empty() ||
         !append_.body.empty();
}

bool RequestTransform::needs_body(std::optional<std::string_view> content_type) const {
  BodyType type = body_type(content_type);
  if (has_body_ops() && type != BodyType::none) return true;
  return http_method_ && (*http_method_ == "GET" || *http_method_ == "HEAD" || *http_method_ == "TRACE") &&
         type == BodyType::form;
}

void RequestTransform::transform_headers(http::HeaderOverlay& headers, const TemplateEnv& env) const {
  auto render = [&](const Op& op) { return op.value ? op.value->render(env) : std::string(); };
  auto is_host = [](std::string_view name) { return iequals(name, "host"); };
  // The value of a header set from a template must not be able to start a new line.
  auto settable = [](const std::string& v) { return !v.empty() && http::is_valid_header_value(v); };
  for (const auto& op : remove_.headers)
    if (!is_host(op.name)) headers.remove(op.name);
  for (const auto& op : rename_.headers) {
    std::string new_name = render(op);
    if (is_host(op.name) || !headers.has(op.name) || !http::is_valid_header_name(new_name)) continue;
    std::vector<std::string> values = headers.get_all(op.name);
    headers.remove(op.name);
    headers.remove(new_name);
    for (auto& v : values) headers.add(to_lower(new_name), std::move(v));
  }
  for (const auto& op : replace_.headers) {
    std::string v = render(op);
    if ((headers.has(op.name) || is_host(op.name)) && settable(v)) headers.set(op.name, std::move(v));
  }
  for (const auto& op : add_.headers) {
    std::string v = render(op);
    if (!headers.has(op.name) && !is_host(op.name) && settable(v)) headers.add(op.name, std::move(v));
  }
  for (const auto& op : append_.headers) {
    std::string v = render(op);
    if (!is_host(op.name) && settable(v)) headers.add(op.name, std::move(v));
  }
}

void RequestTransform::transform_query(std::string& query, const TemplateEnv& env) const {
  if (remove_.querystring.empty() && rename_.querystring.empty() && replace_.querystring.empty() &&
      add_.querystring.empty() && append_.querystring.empty())
    return;
  auto render = [&](const Op& op) { return op.value ? op.value->render(env) : std::string(); };
  if (query.empty() && rename_.querystring.empty() && append_.querystring.empty()) {
    // No query, arguments added (a route adding a fixed one): remove and replace find nothing,
    // so the result is the added arguments (the first of a name), sorted by name as
    // encode_query sorts them; written without the JSON round trip below.
    std::vector<std::pair<std::string_view, std::string>> added;
    added.reserve(add_.querystring.size());
    for (const auto& op : add_.querystring)
      if (std::none_of(added.begin(), added.end(), [&](const auto& a) { return a.first == op.name; }))
        added.emplace_back(op.name, render(op));
    std::sort(added.begin(), added.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [name, value] : added) pdk::append_query_arg(query, name, value);
    return;
  }
  json args = pdk::parse_query(query, kMaxArgs);
  for (const auto& op : remove_.querystring) args.erase(op.name);
  for (const auto& op : rename_.querystring) {
    // Kong assigns the old value to the new name even when there is none (which removes it).
    const json* old_value = find(args, op.name);
    json value = old_value ? *old_value : json();
    args.erase(op.name);
    std::string new_name = render(op);
    if (value.is_null()) {
      args.erase(new_name);
    } else {
      args[new_name] = std::move(value);
    }
  }
  for (const auto& op : replace_.querystring)
    if (find(args, op.name)) args[op.name] = render(op);
  for (const auto& op : add_.querystring)
    if (!find(args, op.name)) args[op.name] = render(op);
  for (const auto& op : append_.querystring) args[op.name] = append_value(find(args, op.name), render(op));
  query = pdk::encode_query(args);
}

std::optional<std::string> RequestTransform::transform_body(std::optional<std::string_view> content_type,
                                                            std::string_view body,
                                                            const TemplateEnv& env) const {
  BodyType type = body_type(content_type);
  if (!has_body_ops() || type == BodyType::none) return std::nullopt;
  if (type == BodyType::multipart) return transform_multipart(*content_type, body, env);
  auto render = [&](const Op& op) { return op.value ? op.value->render(env) : std::string(); };
  json params;
  if (type == BodyType::json) {
    params = body.empty() ? json::object() : json::parse(body, nullptr, false);
    // Not JSON, or JSON that is not an object (Kong would index it as a table): left alone.
    if (params.is_discarded() || !params.is_object()) return std::nullopt;
  } else {
    params = pdk::parse_query(body, kMaxArgs);
  }
  bool changed = false;
  if (!body.empty()) {
    for (const auto& op : remove_.body) {
      params.erase(op.name);
      changed = true;  // Kong re-encodes the body once a removal ran, found or not
    }
    for (const auto& op : rename_.body) {
      const json* old_value = find(params, op.name);
      json value = old_value ? *old_value : json();
      bool had = old_value != nullptr;
      params.erase(op.name);
      std::string new_name = render(op);
      if (had)
        params[new_name] = std::move(value);
      else
        params.erase(new_name);
      changed = true;
    }
    for (const auto& op : replace_.body) {
      const json* current = find(params, op.name);
      if (type == BodyType::json ? truthy(current) : current != nullptr) {
        params[op.name] = render(op);
        changed = true;
      }
    }
  }
  for (const auto& op : add_.body) {
    const json* current = find(params, op.name);
    if (type == BodyType::json ? !truthy(current) : current == nullptr) {
      params[op.name] = render(op);
      changed = true;
    }
  }
  for (const auto& op : append_.body) {
    params[op.name] = append_value(find(params, op.name), render(op));
    changed = true;
  }
  if (!changed) return std::nullopt;
  if (type == BodyType::json) return params.dump(-1, ' ', false, json::error_handler_t::replace);
  return pdk::encode_query(params);
}

// Kong's multipart order: rename, remove, replace (on a non-empty body), then add; no append.
std::optional<std::string> RequestTransform::transform_multipart(std::string_view content_type,
                                                                 std::string_view body,
                                                                 const TemplateEnv& env) const {
  auto boundary = multipart_boundary(content_type);
  std::optional<MultipartBody> parts;
  if (boundary && !body.empty()) parts = MultipartBody::parse(body, *boundary);
  if (!parts && boundary && body.empty()) parts = MultipartBody::parse("--" + *boundary + "--", *boundary);
  if (!parts) return std::nullopt;  // not a multipart body we can read: passed on as it came
  auto render = [&](const Op& op) { return op.value ? op.value->render(env) : std::string(); };
  bool changed = false;
  if (!body.empty()) {
    for (const auto& op : rename_.body) {
      if (auto value = parts->get(op.name)) {
        parts->set_simple(render(op), std::move(*value));
        parts->remove(op.name);
        changed = true;
      }
    }
    for (const auto& op : remove_.body) {
      parts->remove(op.name);
      changed = true;
    }
    for (const auto& op : replace_.body) {
      if (parts->get(op.name)) {
        parts->remove(op.name);
        parts->set_simple(op.name, render(op));
        changed = true;
      }
    }
  }
  for (const auto& op : add_.body) {
    if (!parts->get(op.name)) {
      parts->set_simple(op.name, render(op));
      changed = true;
    }
  }
  if (!changed) return std::nullopt;
  return parts->serialize();
}

void RequestTransform::move_form_to_query(TransformedRequest& req,
                                          std::optional<std::string_view> content_type,
                                          std::optional<std::string_view> body) const {
  if (body_type(content_type) != BodyType::form || !body) return;
  json params = pdk::parse_query(*body, kMaxArgs);
  if (params.empty()) return;
  json query = pdk::parse_query(req.query, kMaxArgs);
  for (auto& [name, value] : params.items()) {
    json* current = query.contains(name) ? &query[name] : nullptr;
    if (!current) {
      query[name] = value;
    } else if (current->is_array()) {
      current->push_back(value);
    } else {
      query[name] = json::array({*current, value});
    }
  }
  req.query = pdk::encode_query(query);
}

void RequestTransform::apply(TransformedRequest& req, std::optional<std::string_view> content_type,
                             std::optional<std::string_view> body, const TemplateEnv& env) const {
  if (uri_) {
    std::string path = uri_->render(env);
    if (!path.empty()) req.path = std::move(path);
  }
  if (http_method_) {
    req.method = *http_method_;
    if (*http_method_ == "GET" || *http_method_ == "HEAD" || *http_method_ == "TRACE")
      move_form_to_query(req, content_type, body);
  }
  transform_headers(req.headers, env);
  if (auto transformed = transform_body(content_type, body.value_or(""), env))
    req.body = std::move(transformed);
  transform_query(req.query, env);
}

}  // namespace gh::traffic
