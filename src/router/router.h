// Request → (Route, Service) with Kong's router semantics ("traditional_compatible", Kong 3.x's
// default; see docs/routing.md for the exact rules). Built once per configuration snapshot and
// then only read, so one Router is shared by every worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/entities.h"

namespace gh::router {

struct RouteRequest {
  std::string_view method;
  std::string_view host;    // Host header value, may include ":port"
  std::string_view path;    // the raw request path without query string
  std::string_view scheme;  // "http" | "https"
  std::string_view sni;     // "" if none
  // Header lookup (lower-case name passed in); returns all values of that header. May be empty
  // (then no header matches).
  std::function<std::vector<std::string_view>(std::string_view lower_name)> header_values;
  // The local port the request arrived on (Kong's net.dst.port, used by hosts such as
  // "example.com:8000"); 0 = take the port from the Host header.
  uint16_t port = 0;
};

struct RouteMatch {
  const conf::Route* route = nullptr;
  const conf::Service* service = nullptr;  // null for a route without a service
  std::string upstream_path;               // service.path + request path, strip_path/path_handling applied
  std::string matched_path;  // the route path (prefix) or the regex match that matched, "" if none
  std::string matched_host;  // the route host entry that matched ("" if the route has no hosts)
  std::vector<std::string> captures_unnamed;  // regex captures (index 0 = whole match)
  std::map<std::string, std::string> captures_named;
};

// Kong's JSON body for requests no route matches (status 404).
inline constexpr std::string_view kNoRouteBody = R"({"message":"no Route matched with those values"})";

class Router {
 public:
  explicit Router(const conf::Declarative& config);  // config must outlive the router
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Tries only the candidates the index says can match (same host bucket, plain prefix of the
  // path, or not indexable), in priority order: the same answer as match_linear, sub-linear work.
  std::optional<RouteMatch> match(const RouteRequest& req) const;
  // Tries every candidate in priority order: the reference the index is tested against.
  std::optional<RouteMatch> match_linear(const RouteRequest& req) const;
  size_t candidate_count() const;  // one per (route, path): the size of the ordered table

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

// Kong's request-path normalisation before matching: percent-decoding of unreserved characters,
// upper-case hex in the remaining escapes, merged slashes and resolved "." / ".." segments.
std::string normalize_path(std::string_view path);

}  // namespace gh::router
