#include "admin/config_body.h"

#include <stdexcept>

#include "common/strings.h"
#include "conf/yaml_guard.h"

namespace gh::admin {

using nlohmann::json;

namespace {

// Deeper JSON is refused while parsing (the YAML guard allows 64 levels for the document itself).
constexpr int kMaxJsonDepth = 64;

struct TooDeep : std::runtime_error {
  TooDeep() : std::runtime_error("nested too deeply") {}
};

ApiResponse bad_request(const std::string& message) {
  return {400, {{"message", message}}};
}

bool truthy(const std::string& value) {
  return value == "1" || value == "true";
}

bool truthy(const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_integer()) return value.get<long long>() == 1;
  return value.is_string() && truthy(value.get<std::string>());
}

// The value of `boundary=` in a multipart Content-Type, unquoted.
std::string multipart_boundary(std::string_view content_type) {
  auto at = content_type.find("boundary=");
  if (at == std::string_view::npos) return "";
  auto value = content_type.substr(at + 9);
  value = value.substr(0, value.find(';'));
  value = trim(value);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
    value = value.substr(1, value.size() - 2);
  return std::string(value);
}

// The parts of a multipart/form-data body, by their form name.
std::map<std::string, std::string> multipart_fields(std::string_view body, const std::string& boundary) {
  std::map<std::string, std::string> fields;
  const std::string delimiter = "--" + boundary;
  size_t at = body.find(delimiter);
  while (at != std::string_view::npos) {
    size_t start = at + delimiter.size();
    if (body.substr(start, 2) == "--") break;  // the closing delimiter
    size_t head_end = body.find("\r\n\r\n", start);
    if (head_end == std::string_view::npos) break;
    size_t next = body.find("\r\n" + delimiter, head_end + 4);
    if (next == std::string_view::npos) break;
    auto head = body.substr(start, head_end - start);
    auto name_at = head.find("name=\"");
    if (name_at != std::string_view::npos) {
      auto name = head.substr(name_at + 6);
      name = name.substr(0, name.find('"'));
      fields[std::string(name)] = std::string(body.substr(head_end + 4, next - head_end - 4));
    }
    at = next + 2;
  }
  return fields;
}

// {"_format_version": ...} is the document; {"config": "<yaml or json>"} carries it as text.
DecodedConfig from_json(const ApiRequest& request, ConfigBody out) {
  json document;
  try {
    document = json::parse(request.body, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) throw TooDeep();
      return true;
    });
  } catch (const TooDeep&) {
    return {std::nullopt, bad_request("Cannot parse JSON body: nested deeper than " +
                                      std::to_string(kMaxJsonDepth) + " levels")};
  } catch (const json::exception&) {
    return {std::nullopt, bad_request("Cannot parse JSON body")};
  }
  if (!document.is_object()) return {std::nullopt, bad_request("expected a declarative configuration")};
  for (const char* flag : {"check_hash", "flatten_errors"}) {
    if (auto it = document.find(flag); it != document.end()) {
      (std::string_view(flag) == "check_hash" ? out.check_hash : out.flatten_errors) |= truthy(*it);
      document.erase(it);
    }
  }
  if (document.contains("_format_version")) {
    out.text = document.dump();
  } else if (auto config = document.find("config"); config != document.end() && config->is_string()) {
    out.text = config->get<std::string>();
  } else {
    return {std::nullopt, bad_request("expected a declarative configuration")};
  }
  return {std::move(out), {}};
}

DecodedConfig from_fields(const std::map<std::string, std::string>& fields, ConfigBody out) {
  if (auto it = fields.find("check_hash"); it != fields.end()) out.check_hash |= truthy(it->second);
  if (auto it = fields.find("flatten_errors"); it != fields.end()) out.flatten_errors |= truthy(it->second);
  auto config = fields.find("config");
  if (config == fields.end()) return {std::nullopt, bad_request("expected a declarative configuration")};
  out.text = config->second;
  return {std::move(out), {}};
}

}  // namespace

DecodedConfig decode_config_body(const ApiRequest& request) {
  ConfigBody out;
  if (auto it = request.query.find("check_hash"); it != request.query.end())
    out.check_hash = truthy(it->second);
  if (auto it = request.query.find("flatten_errors"); it != request.query.end())
    out.flatten_errors = truthy(it->second);
  if (conf::first_invalid_utf8(request.body) != request.body.size())
    return {std::nullopt, bad_request("the request body is not valid UTF-8")};

  const std::string_view type = request.content_type;
  DecodedConfig decoded;
  if (type.starts_with("application/json")) {
    decoded = from_json(request, out);
  } else if (type.starts_with("application/x-www-form-urlencoded")) {
    decoded = from_fields(parse_query(request.body), out);
  } else if (type.starts_with("multipart/form-data")) {
    auto boundary = multipart_boundary(type);
    if (boundary.empty()) return {std::nullopt, bad_request("multipart/form-data without a boundary")};
    decoded = from_fields(multipart_fields(request.body, boundary), out);
  } else if (type.empty() || type.starts_with("application/yaml") || type.starts_with("application/x-yaml") ||
             type.starts_with("text/yaml") || type.starts_with("text/x-yaml") ||
             type.starts_with("text/plain")) {
    out.text = request.body;
    decoded = {std::move(out), {}};
  } else {
    return {std::nullopt, {415, {{"message", "Unsupported Media Type"}}}};
  }
  if (decoded.body && trim(decoded.body->text).empty())
    return {std::nullopt, bad_request("expected a declarative configuration")};
  if (decoded.body && conf::first_invalid_utf8(decoded.body->text) != decoded.body->text.size())
    return {std::nullopt, bad_request("the configuration is not valid UTF-8")};
  return decoded;
}

}  // namespace gh::admin
