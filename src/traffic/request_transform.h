// request-transformer (Kong's kong/plugins/request-transformer/access.lua): remove, rename,
// replace, add and append on the upstream request's headers, query string and body (JSON and
// x-www-form-urlencoded), plus http_method and replace.uri, in Kong's order.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/header_overlay.h"
#include "traffic/template.h"

namespace gh::traffic {

// "name:value" as Kong splits it ("^([^:]+):*(.-)$"): the name before the first ':', the value
// after the run of ':'; nullopt for an entry with no name.
struct ConfigPair {
  std::string name;
  std::string value;  // "" when the entry has no value
};
std::optional<ConfigPair> split_pair(std::string_view entry);

// The upstream request the transformer edits.
struct TransformedRequest {
  std::string method;
  std::string query;                // raw, without '?'
  http::HeaderOverlay headers;      // upstream headers
  std::optional<std::string> path;  // set by replace.uri
  std::optional<std::string> body;  // set when the body changed
};

class RequestTransform {
 public:
  // The schema's element checks (Kong's messages where Kong has one); empty when valid.
  static std::vector<std::string> validate(const nlohmann::json& config);

  explicit RequestTransform(const nlohmann::json& config);

  // Whether the body must be read (body operations, or http_method GET/HEAD/TRACE moving a form
  // body into the query string) for a request with this Content-Type.
  bool needs_body(std::optional<std::string_view> content_type) const;

  // Whether a template reads the query arguments (TemplateEnv::query is needed).
  bool reads_query() const { return reads_query_; }

  // Applies the configuration. `body` is the client's body (when needs_body), `env` what templates read.
  void apply(TransformedRequest& req, std::optional<std::string_view> content_type,
             std::optional<std::string_view> body, const TemplateEnv& env) const;

 private:
  struct Op {
    std::string name;
    std::optional<Template> value;  // nullopt: the entry has no value
  };
  struct Section {
    std::vector<Op> body, headers, querystring;
  };
  static Section compile(const nlohmann::json& section);

  void transform_headers(http::HeaderOverlay& headers, const TemplateEnv& env) const;
  void transform_query(std::string& query, const TemplateEnv& env) const;
  std::optional<std::string> transform_body(std::optional<std::string_view> content_type,
                                            std::string_view body, const TemplateEnv& env) const;
  std::optional<std::string> transform_multipart(std::string_view content_type, std::string_view body,
                                                 const TemplateEnv& env) const;
  void move_form_to_query(TransformedRequest& req, std::optional<std::string_view> content_type,
                          std::optional<std::string_view> body) const;
  bool has_body_ops() const;

  Section remove_, rename_, replace_, add_, append_;
  std::optional<Template> uri_;
  std::optional<std::string> http_method_;
  bool reads_query_ = false;
};

}  // namespace gh::traffic
