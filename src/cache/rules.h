// What decides whether proxy-cache may store or serve a response, as Kong decides it
// (kong/plugins/proxy-cache/handler.lua and kong/tools/http.lua): Cache-Control directives,
// the resource's TTL from s-maxage / max-age / Expires, and the content_type match.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::cache {

// Kong's parse_directive_header: lower-cased directive names; a value is kept as its number when
// it reads as one, else as text; a directive without '=' is present with no value.
struct Directive {
  std::optional<double> number;
  std::optional<std::string> text;  // a value that is not a number
};
using Directives = std::map<std::string, Directive, std::less<>>;

// Parses Cache-Control values (several header lines are joined with ", " first, as Kong does).
Directives parse_directives(const std::vector<std::string_view>& values);

// Kong's calculate_resource_ttl: s-maxage, else max-age, else Expires minus `now`; never negative.
// A directive whose value is not a number counts as absent (Kong's Lua would fail on it).
int64_t resource_ttl(const Directives& cc, std::optional<std::string_view> expires, int64_t now);

// An HTTP date (IMF-fixdate, RFC 850 or asctime, as nginx's ngx_http_parse_time) → seconds since
// the epoch; nullopt when it is not one.
std::optional<int64_t> parse_http_date(std::string_view text);

// A media type as Kong's parse_mime_type reads it: "type/subtype" (or "*") with "; name=value"
// parameters, case kept; nullopt when it does not parse (nothing may follow the last parameter).
struct MediaType {
  std::string type, subtype;
  std::map<std::string, std::string> params;
};
std::optional<MediaType> parse_media_type(std::string_view text);

// Whether a response Content-Type matches one of the configured content types: type and subtype
// equal or '*', and exactly the same parameters (Kong's content_type matching).
bool content_type_matches(std::string_view content_type, const std::vector<MediaType>& accepted);

}  // namespace gh::cache
