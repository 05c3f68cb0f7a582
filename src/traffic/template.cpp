#include "traffic/template.h"

#include <charconv>

#include "common/strings.h"
#include "pdk/shapes.h"

namespace gh::traffic {

namespace {

using json = nlohmann::json;

bool is_ident_char(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return first ? alpha : (alpha || (c >= '0' && c <= '9'));
}

// A small cursor over an expression.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  void skip_space() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  bool eat(char c) {
    skip_space();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool done() {
    skip_space();
    return i >= s.size();
  }
  std::optional<std::string> identifier() {
    skip_space();
    size_t start = i;
    while (i < s.size() && is_ident_char(s[i], i == start)) ++i;
    if (i == start) return std::nullopt;
    return std::string(s.substr(start, i - start));
  }
  // A Lua string literal in single or double quotes, with \\, \", \' and \n escapes.
  std::optional<std::string> string_literal() {
    skip_space();
    if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return std::nullopt;
    char quote = s[i++];
    std::string out;
    while (i < s.size() && s[i] != quote) {
      char c = s[i++];
      if (c == '\\' && i < s.size()) {
        char e = s[i++];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        out += c;
      }
    }
    if (i >= s.size()) return std::nullopt;
    ++i;
    return out;
  }
  std::optional<long> integer() {
    skip_space();
    long n = 0;
    auto [end, ec] = std::from_chars(s.data() + i, s.data() + s.size(), n);
    if (ec != std::errc{}) return std::nullopt;
    i = static_cast<size_t>(end - s.data());
    return n;
  }
};

// The end of a "$(" ... ")" expression starting at `open` (the index after "$("), counting nested
// parentheses outside quotes; npos when unbalanced.
size_t expression_end(std::string_view text, size_t open) {
  int depth = 1;
  char quote = 0;
  for (size_t i = open; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::optional<std::string> scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? std::optional<std::string>("true") : std::nullopt;
  if (v.is_number()) return pdk::lua_tostring(v);
  if (v.is_array() && !v.empty()) return scalar_text(v.front());
  return std::nullopt;
}

std::optional<std::string> header_value(const http::Headers& headers, std::string name) {
  if (auto v = headers.get(name)) return std::string(*v);
  // ngx.req.get_headers() tables also answer headers.x_custom_id for X-Custom-Id.
  for (auto& c : name)
    if (c == '_') c = '-';
  if (auto v = headers.get(name)) return std::string(*v);
  return std::nullopt;
}

}  // namespace

std::optional<Template::Expression> Template::parse_expression(std::string_view text, std::string& error) {
  Cursor c{text};
  Expression e;
  auto root = c.identifier();
  if (!root ||
      (*root != "headers" && *root != "query_params" && *root != "uri_captures" && *root != "shared")) {
    error = "only headers, query_params, uri_captures and shared can be read (gatehouse runs no Lua)";
    return std::nullopt;
  }
  e.root = *root;
  while (true) {
    if (c.eat('.')) {
      auto name = c.identifier();
      if (!name) break;
      e.path.emplace_back(*name);
    } else if (c.eat('[')) {
      if (auto s = c.string_literal()) {
        e.path.emplace_back(*s);
      } else if (auto n = c.integer()) {
        e.path.emplace_back(*n);
      } else {
        error = "an index must be a quoted string or an integer";
        return std::nullopt;
      }
      if (!c.eat(']')) {
        error = "missing ']'";
        return std::nullopt;
      }
    } else {
      break;
    }
  }
  if (e.path.empty()) {
    error = "'" + e.root + "' needs a key (" + e.root + ".name)";
    return std::nullopt;
  }
  Cursor rest = c;
  if (auto word = rest.identifier(); word == "or") {
    c = rest;
    if (auto s = c.string_literal()) {
      e.fallback = *s;
    } else if (auto n = c.integer()) {
      e.fallback = std::to_string(*n);
    } else {
      error = "'or' must be followed by a quoted string or a number";
      return std::nullopt;
    }
  }
  if (!c.done()) {
    error = "unsupported expression (gatehouse evaluates `table.key [or \"default\"]` only)";
    return std::nullopt;
  }
  return e;
}

std::optional<Template> Template::parse(std::string_view text, std::string& error) {
  Template t;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("$(", pos);
    if (open == std::string_view::npos) break;
    size_t close = expression_end(text, open + 2);
    if (close == std::string_view::npos) {
      error = "unbalanced '$(' in '" + std::string(text) + "'";
      return std::nullopt;
    }
    if (open > pos) t.parts_.push_back({true, std::string(text.substr(pos, open - pos)), {}});
    auto expr = parse_expression(text.substr(open + 2, close - open - 2), error);
    if (!expr) return std::nullopt;
    t.parts_.push_back({false, {}, std::move(*expr)});
    pos = close + 1;
  }
  if (pos < text.size()) t.parts_.push_back({true, std::string(text.substr(pos)), {}});
  return t;
}

std::optional<std::string> Template::evaluate(const Expression& e, const TemplateEnv& env) {
  const auto& first = e.path.front();
  std::optional<std::string> value;
  if (e.root == "headers") {
    if (env.headers && e.path.size() == 1 && std::holds_alternative<std::string>(first))
      value = header_value(*env.headers, to_lower(std::get<std::string>(first)));
  } else if (e.root == "uri_captures") {
    if (e.path.size() == 1 && std::holds_alternative<long>(first) && env.captures_unnamed) {
      long index = std::get<long>(first);
      if (index >= 0 && static_cast<size_t>(index) < env.captures_unnamed->size())
        value = (*env.captures_unnamed)[static_cast<size_t>(index)];
    } else if (e.path.size() == 1 && env.captures_named) {
      auto it = env.captures_named->find(std::get<std::string>(first));
      if (it != env.captures_named->end()) value = it->second;
    }
  } else {
    const json* node = e.root == "query_params" ? env.query : env.shared;
    for (const auto& step : e.path) {
      if (!node) break;
      if (std::holds_alternative<std::string>(step)) {
        auto it = node->is_object() ? node->find(std::get<std::string>(step)) : node->end();
        node = node->is_object() && it != node->end() ? &*it : nullptr;
      } else {
        long index = std::get<long>(step) - 1;  // Lua arrays start at 1
        node = node->is_array() && index >= 0 && static_cast<size_t>(index) < node->size()
                   ? &(*node)[static_cast<size_t>(index)]
                   : nullptr;
      }
    }
    if (node) value = scalar_text(*node);
  }
  if (!value && e.fallback) return e.fallback;  // Lua's `or`: an empty string is a value
  return value;
}

bool Template::reads(std::string_view root) const {
  for (const auto& p : parts_)
    if (!p.literal && p.expr.root == root) return true;
  return false;
}

std::string Template::render(const TemplateEnv& env) const {
  std::string out;
  for (const auto& p : parts_) {
    if (p.literal) {
      out += p.text;
    } else if (auto v = evaluate(p.expr, env)) {
      out += *v;
    }
  }
  return out;
}

}  // namespace gh::traffic
