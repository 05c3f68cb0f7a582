// proxy-cache's cache key, composed as Kong's kong/plugins/proxy-cache/cache_key.lua composes it,
// so the X-Cache-Key a client sees is the one Kong would send for the same request:
//   sha256_hex("<prefix>|<method>|<uri>|<params>|<headers>")
// prefix: "<consumer id>:<route id>", "<route id>" or "default"; uri: nginx's $request (the
// request line) up to its first '?', lower-cased with ignore_uri_case; params: the query
// arguments ("name=value" or a bare "name", repeated values sorted and joined with ',', entries
// joined with ':'), all of them sorted by name unless vary_query_params names some; headers: the
// vary_headers present, the same way.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/headers.h"

namespace gh::cache {

struct KeyInputs {
  std::string_view consumer_id;  // "" when no consumer is authenticated
  std::string_view route_id;     // "" without a route
  std::string_view method;
  std::string_view uri;                   // request_line_uri()
  const nlohmann::json* query = nullptr;  // Kong's get_query table (pdk::parse_query)
  const http::Headers* headers = nullptr;
  const std::vector<std::string>* vary_query_params = nullptr;  // empty: every argument
  const std::vector<std::string>* vary_headers = nullptr;       // empty: no header
};

// nginx's $request ("GET /a?b HTTP/1.1") cut at its first '?' (Kong's ngx.re.gsub("\?.*", "")):
// "GET /a" with a query, "GET /a HTTP/1.1" without.
std::string request_line_uri(std::string_view method, std::string_view target, int version_minor,
                             bool ignore_case);

// The text that is hashed, and the key itself (64 lower-case hex digits).
std::string key_material(const KeyInputs& in);
std::string cache_key(const KeyInputs& in);
std::string sha256_hex(std::string_view data);

}  // namespace gh::cache
