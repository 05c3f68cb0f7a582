// The cors plugin's decisions (Kong's kong/plugins/cors/handler.lua), as pure functions of the
// configuration and the request's Origin / Access-Control-Request-* headers.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/regex.h"
#include "traffic/header_edit.h"

namespace gh::traffic {

struct CorsRequest {
  std::string_view method;
  std::optional<std::string_view> origin;
  std::optional<std::string_view> request_method;   // Access-Control-Request-Method
  std::optional<std::string_view> request_headers;  // Access-Control-Request-Headers
  std::optional<std::string_view> request_private_network;
};

// Kong's origin normalisation (socket.url): "scheme://host[:port]" with the default port of
// http/https dropped; anything without "scheme://authority" stays as it is.
struct NormalizedOrigin {
  std::string domain;  // scheme://host[:port]
  std::string host;
};
NormalizedOrigin normalize_origin(std::string_view origin);

class CorsPolicy {
 public:
  // The schema check of one `origins` entry: "*" or a valid regex ("'x' is not a valid regex").
  static std::optional<std::string> validate_origin(std::string_view origin);

  // `config` is the validated plugin config (defaults filled).
  explicit CorsPolicy(const nlohmann::json& config);

  // The access phase: for a preflight (OPTIONS with Origin and Access-Control-Request-Method)
  // without preflight_continue, the headers of the 200 answer Kong sends; nullopt otherwise.
  std::optional<HeaderEdits> preflight(const CorsRequest& req) const;
  // Whether the response phase must add headers (not after a preflight Kong answered or let
  // through with preflight_continue).
  bool is_preflight(const CorsRequest& req) const;
  // The header_filter phase: edits to the response headers. `header_filter` false: the edits are
  // made before the response exists (Vary set, not added).
  HeaderEdits response_headers(const CorsRequest& req, bool header_filter = true) const;

 private:
  struct Origin {
    std::string domain;  // normalised, for exact entries
    conf::Pcre2Code regex;
    bool by_host = false;  // a regex without ':' is matched against the host only
  };
  // Returns whether every origin is allowed ("*"), appending the ACAO/Vary edits.
  bool configure_origin(const CorsRequest& req, bool header_filter, HeaderEdits& out) const;
  void configure_credentials(const CorsRequest& req, bool allow_all, bool header_filter,
                             HeaderEdits& out) const;
  bool origin_matches(const Origin& o, const NormalizedOrigin& req) const;

  std::vector<std::string> raw_origins_;
  std::vector<Origin> origins_;
  bool wildcard_ = false;       // no origins, or "*" among them
  std::string single_literal_;  // a single non-regex origin: sent as it is
  std::string headers_, exposed_headers_, methods_;
  std::optional<std::string> max_age_;
  bool credentials_ = false, private_network_ = false, preflight_continue_ = false;
  bool allow_origin_absent_ = true;
};

}  // namespace gh::traffic
