#include "pdk/shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>

#include "common/strings.h"
#include "core/snapshot.h"
#include "pdk/state.h"

namespace gh::pdk {

namespace {

// Adds `value` under `key` the way ngx.req.get_headers / get_uri_args build their tables.
void add_multi(json& map, const std::string& key, json value) {
  auto it = map.find(key);
  if (it == map.end()) {
    map[key] = std::move(value);
  } else if (it->is_array()) {
    it->push_back(std::move(value));
  } else {
    *it = json::array({std::move(*it), std::move(value)});
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ngx.escape_uri as ngx.encode_args uses it: everything but unreserved characters escaped.
void append_escaped_arg(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      const char escaped[] = {'%', kHex[c >> 4], kHex[c & 0xf]};
      out.append(escaped, sizeof escaped);
    }
  }
}

std::string scalar_arg_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return lua_tostring(v);
  throw PdkError("attempt to use " + std::string(v.type_name()) + " as query arg value");
}

std::string header_value_string(std::string_view name, const json& v) {
  if (v.is_string()) return checked_header_value(name, v.get<std::string>());
  if (v.is_number() || v.is_boolean())
    return checked_header_value(name,
                                lua_tostring(v));  // JS sends process.pid as a number; Kong tostring()s it
  throw PdkError(
      fmt::format("invalid header value for \"{}\": got {}, expected array of string, string, "
                  "number or boolean",
                  name, v.type_name()));
}

}  // namespace

json headers_multimap(const http::Headers& headers, size_t max) {
  json map = json::object();
  size_t count = 0;
  for (const auto& h : headers) {
    if (count++ >= max) break;
    add_multi(map, to_lower(h.name), h.value);
  }
  return map;
}

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

json parse_query(std::string_view query, size_t max) {
  json args = json::object();
  size_t count = 0;
  while (!query.empty() && count < max) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string key = url_decode(pair.substr(0, eq));
    if (key.empty()) continue;  // "=v" and "&&" are skipped by nginx as well
    ++count;
    if (eq == std::string_view::npos) {
      add_multi(args, key, true);
    } else {
      add_multi(args, key, url_decode(pair.substr(eq + 1)));
    }
  }
  return args;
}

std::string encode_query(const json& args) {
  if (!args.is_object()) throw PdkError("args must be a table");
  std::string out;
  auto append = [&](const std::string& key, const json& v) {
    if (v.is_boolean()) {
      if (!v.get<bool>()) return;
      if (!out.empty()) out += '&';
      append_escaped_arg(out, key);  // a bare flag
      return;
    }
    if (v.is_string())
      append_query_arg(out, key, v.get_ref<const std::string&>());
    else
      append_query_arg(out, key, scalar_arg_string(v));
  };
  for (const auto& [key, value] : args.items()) {  // json objects iterate in sorted key order
    if (value.is_array()) {
      for (const auto& v : value) append(key, v);
    } else {
      append(key, value);
    }
  }
  return out;
}

void append_query_arg(std::string& out, std::string_view name, std::string_view value) {
  if (!out.empty()) out += '&';
  append_escaped_arg(out, name);
  out += '=';
  append_escaped_arg(out, value);
}

size_t max_count_arg(const PdkCall& call, size_t index, std::string_view what) {
  if (!call.has(index)) return 100;
  const json& v = call.arg(index);
  if (!v.is_number()) throw PdkError(fmt::format("{} must be a number", what));
  double n = v.get<double>();
  if (n < 1) throw PdkError(fmt::format("{} must be >= 1", what));
  if (n > 1000) throw PdkError(fmt::format("{} must be <= 1000", what));
  return static_cast<size_t>(n);
}

std::string header_name_arg(const json& name) {
  if (!name.is_string()) {
    throw PdkError(fmt::format("invalid header name: got {}, expected string", name.type_name()));
  }
  return checked_header_name(name.get<std::string>());
}

std::string checked_header_name(std::string_view name) {
  if (!http::is_valid_header_name(name)) {
    throw PdkError(
        fmt::format("invalid header name \"{}\": not a valid HTTP header name (CR, LF, NUL, "
                    "spaces or separators)",
                    json(name).dump(-1, ' ', true, json::error_handler_t::replace)));
  }
  return std::string(name);
}

std::string checked_header_value(std::string_view name, std::string_view value) {
  if (!http::is_valid_header_value(value)) {
    throw PdkError(fmt::format("invalid header value for \"{}\": contains CR, LF or NUL", name));
  }
  return std::string(value);
}

std::vector<std::string> header_values_arg(std::string_view name, const json& value) {
  std::vector<std::string> values;
  if (value.is_array()) {
    for (const auto& v : value) values.push_back(header_value_string(name, v));
  } else {
    values.push_back(header_value_string(name, value));
  }
  return values;
}

namespace {
template <class HeaderList>
void set_headers_in(HeaderList& headers, const json& table) {
  if (!table.is_object() && !(table.is_array() && table.empty())) {
    throw PdkError("headers must be a table");
  }
  // Validate everything first: a refused header must not leave half the table applied.
  std::vector<std::pair<std::string, std::vector<std::string>>> checked;
  for (const auto& [name, value] : table.items()) {
    checked.emplace_back(header_name_arg(name), header_values_arg(name, value));
  }
  for (auto& [name, values] : checked) {
    headers.remove(name);
    for (auto& v : values) headers.add(name, std::move(v));
  }
}
}  // namespace

void set_headers_from_table(http::Headers& headers, const json& table) {
  set_headers_in(headers, table);
}

void set_headers_from_table(http::HeaderOverlay& headers, const json& table) {
  set_headers_in(headers, table);
}

json route_entity(const conf::Route& r) {
  json j = {{"id", r.id},
            {"protocols", r.protocols},
            {"https_redirect_status_code", r.https_redirect_status_code},
            {"regex_priority", r.regex_priority},
            {"strip_path", r.strip_path},
            {"preserve_host", r.preserve_host},
            {"path_handling", r.path_handling},
            {"request_buffering", r.request_buffering},
            {"response_buffering", r.response_buffering}};
  // Kong leaves unset fields out (they are nil in Lua).
  if (!r.name.empty()) j["name"] = r.name;
  if (!r.methods.empty()) j["methods"] = r.methods;
  if (!r.hosts.empty()) j["hosts"] = r.hosts;
  if (!r.paths.empty()) j["paths"] = r.paths;
  if (!r.headers.empty()) j["headers"] = r.headers;
  if (!r.snis.empty()) j["snis"] = r.snis;
  if (!r.tags.empty()) j["tags"] = r.tags;
  if (!r.service_id.empty()) j["service"] = {{"id", r.service_id}};
  return j;
}

json service_entity(const conf::Service& s) {
  json j = {{"id", s.id},
            {"protocol", s.protocol},
            {"host", s.host},
            {"port", s.port},
            {"retries", s.retries},
            {"connect_timeout", s.connect_timeout_ms},
            {"write_timeout", s.write_timeout_ms},
            {"read_timeout", s.read_timeout_ms},
            {"enabled", s.enabled}};
  if (!s.name.empty()) j["name"] = s.name;
  if (!s.path.empty()) j["path"] = s.path;
  if (!s.tags.empty()) j["tags"] = s.tags;
  if (s.protocol == "https") j["tls_verify"] = s.tls_verify;
  return j;
}

json consumer_entity(const conf::Consumer& c) {
  json j = {{"id", c.id}};
  if (!c.username.empty()) j["username"] = c.username;
  if (!c.custom_id.empty()) j["custom_id"] = c.custom_id;
  if (!c.tags.empty()) j["tags"] = c.tags;
  return j;
}

bool is_trusted_ip(const core::RequestContext& ctx, std::string_view address) {
  if (!ctx.snapshot) return false;
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(std::string(address), ec);
  if (ec) return false;
  const auto& trusted = ctx.snapshot->properties.trusted_ips;
  return std::any_of(trusted.begin(), trusted.end(), [&](const conf::Cidr& c) { return c.contains(ip); });
}

bool peer_is_trusted(const core::RequestContext& ctx) {
  return is_trusted_ip(ctx, ctx.remote_ip);
}

std::string lua_tostring(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) return fmt::format("{:.14g}", value.get<double>());
  if (value.is_null()) return "nil";
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string request_host(const core::RequestContext& ctx) {
  return ctx.request ? host_without_port(ctx.request->host()) : std::string();
}

}  // namespace gh::pdk
