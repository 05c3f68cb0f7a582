#include "proxy/hash_inputs.h"

#include <algorithm>

#include "pdk/shapes.h"
#include "router/router.h"

namespace gh::proxy {

namespace {
constexpr size_t kMaxQueryArgs = 100;  // Kong's lua_max_uri_args default

std::optional<std::string> id_of(const nlohmann::json& entity) {
  if (entity.is_object())
    if (auto it = entity.find("id"); it != entity.end() && it->is_string()) return it->get<std::string>();
  return std::nullopt;
}
}  // namespace

std::optional<std::string> RequestHashInputs::consumer_id() const {
  if (auto id = id_of(core::table_or_null(ctx_.authenticated_consumer))) return id;
  return id_of(core::table_or_null(ctx_.authenticated_credential));
}

// nginx's $http_<name>: every value of the header, joined with ", ".
std::optional<std::string> RequestHashInputs::header(const std::string& name) const {
  if (!ctx_.request) return std::nullopt;
  const auto values = ctx_.request->headers.get_all(name);
  if (values.empty()) return std::nullopt;
  std::string joined;
  for (auto v : values) {
    if (!joined.empty()) joined += ", ";
    joined += v;
  }
  return joined;
}

// nginx's $cookie_<name>: the first cookie of that name in the Cookie headers.
std::optional<std::string> RequestHashInputs::cookie(const std::string& name) const {
  if (!ctx_.request) return std::nullopt;
  for (std::string_view line : ctx_.request->headers.get_all("cookie")) {
    while (!line.empty()) {
      const size_t end = std::min(line.find(';'), line.size());
      std::string_view pair = line.substr(0, end);
      line.remove_prefix(std::min(end + 1, line.size()));
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

// nginx's $uri: the normalized path, without the query.
std::string RequestHashInputs::path() const {
  return ctx_.request ? router::normalize_path(ctx_.request->path()) : std::string();
}

// Kong: a repeated argument's values sorted and joined with ","; a bare flag is "true".
std::optional<std::string> RequestHashInputs::query_arg(const std::string& name) const {
  if (!ctx_.request) return std::nullopt;
  const auto args = pdk::parse_query(ctx_.request->query(), kMaxQueryArgs);
  auto it = args.find(name);
  if (it == args.end()) return std::nullopt;
  auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  if (!it->is_array()) return text(*it);
  std::vector<std::string> values;
  for (const auto& v : *it) values.push_back(text(v));
  std::sort(values.begin(), values.end());
  std::string joined;
  for (const auto& v : values) joined += (joined.empty() ? "" : ",") + v;
  return joined;
}

// A regex route's capture: by name, or by number ("1").
std::optional<std::string> RequestHashInputs::uri_capture(const std::string& name) const {
  if (!ctx_.match) return std::nullopt;
  if (auto it = ctx_.match->captures_named.find(name); it != ctx_.match->captures_named.end())
    return it->second;
  if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos || name.size() > 3)
    return std::nullopt;
  const auto index = static_cast<size_t>(std::stoi(name));
  if (index < ctx_.match->captures_unnamed.size()) return ctx_.match->captures_unnamed[index];
  return std::nullopt;
}

}  // namespace gh::proxy
