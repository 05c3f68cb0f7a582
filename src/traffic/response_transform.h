// response-transformer (Kong's kong/plugins/response-transformer): remove, rename, replace, add
// and append on the response headers, and on the keys of a JSON response body (with json_types
// for replace/add/append values).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/headers.h"

namespace gh::traffic {

class ResponseTransform {
 public:
  static std::vector<std::string> validate(const nlohmann::json& config);
  explicit ResponseTransform(const nlohmann::json& config);

  // Whether a body transformation is configured (the response must then be buffered when JSON).
  bool has_body_ops() const;
  // Kong's is_json_body: one of the Content-Type's media types is application/json (or +json).
  static bool is_json(std::optional<std::string_view> content_type);

  // header_filter: edits the response headers; drops Content-Length when the body will change.
  void transform_headers(http::Headers& headers) const;
  // body_filter: the new JSON body, or nullopt when the body is not a JSON object (left as is).
  std::optional<std::string> transform_body(std::string_view body) const;

 private:
  struct Op {
    std::string name;
    std::optional<std::string> value;
    std::string json_type;  // "", "string", "number" or "boolean"
  };
  struct Section {
    std::vector<Op> headers, json;
  };
  static Section compile(const nlohmann::json& config, const char* name);
  static std::optional<nlohmann::json> typed_value(const Op& op);

  Section remove_, rename_, replace_, add_, append_;
};

}  // namespace gh::traffic
