#include "traffic/cors_policy.h"

#include "common/strings.h"
#include "pdk/shapes.h"

namespace gh::traffic {

namespace {

using json = nlohmann::json;

constexpr http::HeaderName kAllowOrigin("Access-Control-Allow-Origin");
constexpr http::HeaderName kAllowCredentials("Access-Control-Allow-Credentials");
constexpr http::HeaderName kAllowHeaders("Access-Control-Allow-Headers");

// Kong tells a literal origin from a regex by its characters: only [A-Za-z0-9.:/-] is literal.
bool looks_literal(std::string_view origin) {
  if (origin.empty()) return false;
  for (char c : origin) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == ':' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string join(const json& list, std::string_view sep) {
  std::string out;
  if (!list.is_array()) return out;
  for (const auto& v : list) {
    if (!out.empty()) out += sep;
    out += v.is_string() ? v.get<std::string>() : pdk::lua_tostring(v);
  }
  return out;
}

bool is_scheme_char(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (first) return alpha;
  return alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

// A regex origin as Kong runs it: anchored at both ends (Kong appends '$' and matches with the
// anchored flag, dropping a leading '^' the user wrote).
std::string anchored(std::string_view entry) {
  std::string re(entry);
  if (re.empty() || re.back() != '$') re += '$';
  if (!re.empty() && re.front() == '^') re.erase(0, 1);
  return re;
}

void set(HeaderEdits& out, http::HeaderName name, std::string value) {
  out.push_back({HeaderEdit::Op::set, name, std::move(value)});
}

void add_vary(HeaderEdits& out, bool header_filter) {
  static constexpr http::HeaderName kVary("Vary");
  out.push_back({header_filter ? HeaderEdit::Op::add : HeaderEdit::Op::set, kVary, "Origin"});
}

}  // namespace

NormalizedOrigin normalize_origin(std::string_view origin) {
  // scheme ":" "//" authority: anything else has no host and is compared as it is.
  size_t colon = origin.find(':');
  bool has_scheme = colon != std::string_view::npos && colon > 0;
  for (size_t i = 0; has_scheme && i < colon; ++i) has_scheme = is_scheme_char(origin[i], i == 0);
  if (!has_scheme || origin.substr(colon + 1, 2) != "//") return {std::string(origin), std::string(origin)};
  std::string_view scheme = origin.substr(0, colon);
  std::string_view authority = origin.substr(colon + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close != std::string_view::npos) {
      host = authority.substr(0, close + 1);
      if (authority.substr(close + 1).starts_with(":")) port = authority.substr(close + 2);
    }
  } else if (size_t c = authority.rfind(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (host.empty()) return {std::string(origin), std::string(origin)};
  if ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) port = {};
  std::string domain = std::string(scheme) + "://" + std::string(host);
  if (!port.empty()) domain += ":" + std::string(port);
  return {std::move(domain), std::string(host)};
}

std::optional<std::string> CorsPolicy::validate_origin(std::string_view origin) {
  if (origin == "*" || !conf::regex_compile_error(origin)) return std::nullopt;
  return "'" + std::string(origin) + "' is not a valid regex";
}

CorsPolicy::CorsPolicy(const json& config) {
  if (auto it = config.find("origins"); it != config.end() && it->is_array())
    for (const auto& o : *it)
      if (o.is_string()) raw_origins_.push_back(o.get<std::string>());
  wildcard_ = raw_origins_.empty() || (raw_origins_.size() == 1 && raw_origins_[0] == "*");
  if (raw_origins_.size() == 1 && looks_literal(raw_origins_[0])) single_literal_ = raw_origins_[0];
  for (const auto& entry : raw_origins_) {
    Origin o;
    o.by_host = entry.find(':') == std::string::npos;
    if (entry != "*" && !looks_literal(entry)) {
      std::string error;
      o.regex = conf::compile_regex(anchored(entry), PCRE2_ANCHORED, error);
    } else {
      o.domain = normalize_origin(entry).domain;
    }
    origins_.push_back(std::move(o));
  }
  headers_ = join(config.value("headers", json()), ",");
  exposed_headers_ = join(config.value("exposed_headers", json()), ",");
  json methods = config.value("methods", json());
  methods_ = methods.is_array() ? join(methods, ",") : "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";
  if (auto it = config.find("max_age"); it != config.end() && it->is_number())
    max_age_ = pdk::lua_tostring(*it);
  credentials_ = config.value("credentials", false);
  private_network_ = config.value("private_network", false);
  preflight_continue_ = config.value("preflight_continue", false);
  allow_origin_absent_ = config.value("allow_origin_absent", true);
}

bool CorsPolicy::origin_matches(const Origin& o, const NormalizedOrigin& req) const {
  if (!o.regex) return !o.domain.empty() && o.domain == req.domain;
  const std::string& subject = o.by_host ? req.host : req.domain;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(o.regex.get(), nullptr), &pcre2_match_data_free);
  return pcre2_match(o.regex.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0,
                     md.get(), nullptr) >= 0;
}

bool CorsPolicy::configure_origin(const CorsRequest& req, bool header_filter, HeaderEdits& out) const {
  if (wildcard_) {
    set(out, kAllowOrigin, "*");
    return true;
  }
  add_vary(out, header_filter);  // the answer depends on Origin even when it is refused
  if (!single_literal_.empty()) {
    set(out, kAllowOrigin, single_literal_);
    return false;
  }
  if (req.origin) {
    for (const auto& entry : raw_origins_) {
      if (entry == "*") {
        set(out, kAllowOrigin, "*");
        return true;
      }
    }
    NormalizedOrigin normalized = normalize_origin(*req.origin);
    for (const auto& o : origins_) {
      if (origin_matches(o, normalized)) {
        set(out, kAllowOrigin, normalized.domain);
        return false;
      }
    }
  }
  out.push_back({HeaderEdit::Op::clear, kAllowOrigin, {}});
  return false;
}

void CorsPolicy::configure_credentials(const CorsRequest& req, bool allow_all, bool header_filter,
                                       HeaderEdits& out) const {
  if (!credentials_) return;
  if (!allow_all) {
    set(out, kAllowCredentials, "true");
    return;
  }
  // A '*' origin cannot go with credentials: browsers refuse it, so the request's Origin is echoed.
  if (req.origin) {
    add_vary(out, header_filter);
    set(out, kAllowOrigin, std::string(*req.origin));
    set(out, kAllowCredentials, "true");
  }
}

bool CorsPolicy::is_preflight(const CorsRequest& req) const {
  return req.method == "OPTIONS" && req.origin && req.request_method;
}

std::optional<HeaderEdits> CorsPolicy::preflight(const CorsRequest& req) const {
  if (!is_preflight(req) || preflight_continue_) return std::nullopt;
  HeaderEdits out;
  out.reserve(8);
  bool allow_all = configure_origin(req, false, out);
  configure_credentials(req, allow_all, false, out);
  if (!headers_.empty()) {
    set(out, kAllowHeaders, headers_);
  } else if (req.request_headers) {
    set(out, kAllowHeaders, std::string(*req.request_headers));
  } else {
    out.push_back({HeaderEdit::Op::clear, kAllowHeaders, {}});
  }
  set(out, http::HeaderName("Access-Control-Allow-Methods"), methods_);
  if (max_age_) set(out, http::HeaderName("Access-Control-Max-Age"), *max_age_);
  if (private_network_ && req.request_private_network == "true")
    set(out, http::HeaderName("Access-Control-Allow-Private-Network"), "true");
  return out;
}

HeaderEdits CorsPolicy::response_headers(const CorsRequest& req, bool header_filter) const {
  HeaderEdits out;
  if (is_preflight(req)) return out;  // answered (or passed on with preflight_continue) in access
  if (!req.origin && !allow_origin_absent_) return out;
  out.reserve(6);  // five edits at the most
  bool allow_all = configure_origin(req, header_filter, out);
  configure_credentials(req, allow_all, header_filter, out);
  if (!exposed_headers_.empty())
    set(out, http::HeaderName("Access-Control-Expose-Headers"), exposed_headers_);
  return out;
}

}  // namespace gh::traffic
