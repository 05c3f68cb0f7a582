#include "cache/rules.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/strings.h"

namespace gh::cache {

namespace {

// Lua's tonumber on a directive value: decimal numbers with optional surrounding blanks.
std::optional<double> lua_number(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> number_of(const Directives& cc, std::string_view name) {
  auto it = cc.find(name);
  if (it == cc.end()) return std::nullopt;
  return it->second.number;
}

bool token_char(char c) {
  if (static_cast<unsigned char>(c) <= 32 || c == 127 || static_cast<unsigned char>(c) > 127) return false;
  return std::strchr("()<>@,;:\\\"/[]?={}", c) == nullptr;
}

size_t token_length(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && token_char(s[n])) ++n;
  return n;
}

void skip_blanks(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

// A parameter value: a token or a quoted string, its quotes removed (Kong's grammar ends a quoted
// string at the next quote, a backslash before it included).
std::optional<std::string> parameter_value(std::string_view& s) {
  if (!s.empty() && s.front() == '"') {
    size_t i = 1;
    while (i < s.size() && s[i] != '"') {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 32 || c == 127) return std::nullopt;
      ++i;
    }
    if (i >= s.size()) return std::nullopt;
    std::string value(s.substr(1, i - 1));
    s.remove_prefix(i + 1);
    return value;
  }
  const size_t n = token_length(s);
  if (n == 0) return std::nullopt;
  std::string value(s.substr(0, n));
  s.remove_prefix(n);
  return value;
}

}  // namespace

Directives parse_directives(const std::vector<std::string_view>& values) {
  Directives cc;
  for (auto value : values) {
    while (!value.empty()) {
      const size_t comma = value.find(',');
      std::string_view item = value.substr(0, comma);
      value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
      // Kong's ^\s*([^=]+)(?:=(.+))?: the name runs to the first '=', the value is the rest.
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      const size_t eq = item.find('=');
      const std::string_view name = item.substr(0, eq);
      if (name.empty()) continue;
      Directive d;
      if (eq != std::string_view::npos && eq + 1 < item.size()) {
        const std::string_view raw = item.substr(eq + 1);
        d.number = lua_number(raw);
        if (!d.number) d.text = std::string(raw);
      }
      cc[to_lower(name)] = std::move(d);
    }
  }
  return cc;
}

int64_t resource_ttl(const Directives& cc, std::optional<std::string_view> expires, int64_t now) {
  std::optional<double> max_age = number_of(cc, "s-maxage");
  if (!max_age) max_age = number_of(cc, "max-age");
  if (!max_age && expires) {
    if (auto at = parse_http_date(*expires)) max_age = static_cast<double>(*at - now);
  }
  if (!max_age || *max_age <= 0) return 0;
  return static_cast<int64_t>(*max_age);
}

std::optional<int64_t> parse_http_date(std::string_view text) {
  std::string s(trim(text));
  std::tm tm{};
  char month[4] = {};
  char weekday[16] = {};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  int consumed = 0;
  // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT",
  // asctime "Sun Nov  6 08:49:37 1994".
  if (std::sscanf(s.c_str(), "%15[A-Za-z], %d %3s %d %d:%d:%d GMT%n", weekday, &day, month, &year, &hour,
                  &minute, &second, &consumed) == 7 &&
      consumed == static_cast<int>(s.size())) {
  } else if (std::sscanf(s.c_str(), "%15[A-Za-z], %d-%3s-%d %d:%d:%d GMT%n", weekday, &day, month, &year,
                         &hour, &minute, &second, &consumed) == 7 &&
             consumed == static_cast<int>(s.size())) {
    year += year < 70 ? 2000 : (year < 100 ? 1900 : 0);
  } else if (std::sscanf(s.c_str(), "%15[A-Za-z] %3s %d %d:%d:%d %d%n", weekday, month, &day, &hour, &minute,
                         &second, &year, &consumed) == 7 &&
             consumed == static_cast<int>(s.size())) {
  } else {
    return std::nullopt;
  }
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int mon = -1;
  for (int i = 0; i < 12; ++i)
    if (std::strcmp(month, kMonths[i]) == 0) mon = i;
  if (mon < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || year < 1970 || year > 9999)
    return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm));
}

std::optional<MediaType> parse_media_type(std::string_view s) {
  MediaType media;
  const size_t t = token_length(s);
  const size_t st = t > 0 && t < s.size() && s[t] == '/' ? token_length(s.substr(t + 1)) : 0;
  if (st > 0) {
    media.type = std::string(s.substr(0, t));
    media.subtype = std::string(s.substr(t + 1, st));
    s.remove_prefix(t + 1 + st);
  } else if (s.starts_with('*')) {  // a lone "*" stands for "*/*"
    media.type = media.subtype = "*";
    s.remove_prefix(1);
  } else {
    return std::nullopt;
  }
  while (!s.empty()) {
    skip_blanks(s);
    if (s.empty() || s.front() != ';') return std::nullopt;
    s.remove_prefix(1);
    skip_blanks(s);
    const size_t n = token_length(s);
    if (n == 0 || n >= s.size() || s[n] != '=') return std::nullopt;
    std::string name(s.substr(0, n));
    s.remove_prefix(n + 1);
    auto value = parameter_value(s);
    if (!value) return std::nullopt;
    media.params[std::move(name)] = std::move(*value);
  }
  return media;
}

bool content_type_matches(std::string_view content_type, const std::vector<MediaType>& accepted) {
  const auto media = parse_media_type(content_type);
  if (!media) return false;
  for (const auto& a : accepted) {
    const bool type_ok = a.type == "*" || a.type == media->type;
    const bool subtype_ok = a.subtype == "*" || a.subtype == media->subtype;
    if (type_ok && subtype_ok && a.params == media->params) return true;
  }
  return false;
}

}  // namespace gh::cache
