// The value templates of request-transformer ("Bearer $(headers.token)"). Kong renders them with
// Penlight templates as Lua expressions; gatehouse runs no Lua, so it supports the expressions
// Kong's documentation shows, evaluated natively:
//   $(headers.name)  $(headers["x-name"])  $(query_params.name)  $(query_params["a b"])
//   $(uri_captures.name)  $(uri_captures[1])  $(shared.key.sub)  and any of them followed by
//   `or "default"` / `or 'default'`.
// Anything else is refused when the configuration loads, with the reason.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "http/headers.h"

namespace gh::traffic {

// What templates read: the client's headers and query arguments, the route's regex captures and
// kong.ctx.shared.
struct TemplateEnv {
  const http::Headers* headers = nullptr;
  const nlohmann::json* query = nullptr;  // parse_query shape
  const std::vector<std::string>* captures_unnamed = nullptr;
  const std::map<std::string, std::string>* captures_named = nullptr;
  const nlohmann::json* shared = nullptr;
};

class Template {
 public:
  // Parses `text`; on failure returns nullopt and sets `error`.
  static std::optional<Template> parse(std::string_view text, std::string& error);

  // Whether an expression reads `root` (headers, query_params, uri_captures or shared).
  bool reads(std::string_view root) const;
  bool is_literal() const { return parts_.size() <= 1 && (parts_.empty() || parts_[0].literal); }
  // Renders with `env`: a missing value renders as "" (Penlight's `x or ''`), a repeated header
  // or query argument as its first value.
  std::string render(const TemplateEnv& env) const;

 private:
  struct Expression {
    std::string root;                                   // headers | query_params | uri_captures | shared
    std::vector<std::variant<std::string, long>> path;  // .name / ["name"] / [1]
    std::optional<std::string> fallback;                // `or "..."`
  };
  struct Part {
    bool literal = true;
    std::string text;
    Expression expr;
  };
  static std::optional<Expression> parse_expression(std::string_view text, std::string& error);
  static std::optional<std::string> evaluate(const Expression& e, const TemplateEnv& env);

  std::vector<Part> parts_;
};

}  // namespace gh::traffic
