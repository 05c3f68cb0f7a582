#include "router/router.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <unordered_map>

#include "common/log.h"
#include "common/strings.h"
#include "conf/regex.h"

namespace gh::router {

namespace {

// Protocols served by the HTTP router; stream routes (tcp, tls, udp) are not its business.
const std::set<std::string, std::less<>> kHttpProtocols = {"http", "https", "grpc", "grpcs", "ws", "wss"};

// --- compiled matching rules ----------------------------------------------------------------------

struct HostRule {
  enum class Kind { exact, suffix, prefix } kind = Kind::exact;  // "a.com", "*.a.com", "a.*"
  std::string text;                                              // without the '*' (".a.com" / "a.")
  int port = -1;                                                 // -1: any port
  std::string original;
};

struct HeaderRule {
  std::string name;
  std::vector<std::string> values;                   // compared case-insensitively
  std::vector<std::shared_ptr<pcre2_code>> regexes;  // "~*" values, caseless, unanchored
};

struct PathRule {
  bool is_regex = false;
  std::string text;  // the prefix, or the original "~..." path
  std::shared_ptr<pcre2_code> regex;
  std::vector<std::pair<std::string, int>> names;  // named groups → group number
  uint32_t capture_count = 0;
};

// Everything about one route except its paths (shared by the route's candidates).
struct RouteRules {
  const conf::Route* route = nullptr;
  const conf::Service* service = nullptr;
  std::vector<HostRule> hosts;
  std::vector<HeaderRule> headers;
  std::vector<std::string> snis;
};

// Kong's traditional_compatible priority, most significant first (see docs/routing.md).
struct Priority {
  int match_weight = 0;  // number of criteria kinds set: methods, hosts, headers, snis, paths
  bool plain_hosts_only = false;
  int header_count = 0;
  bool regex_path = false;
  int regex_priority = 0;      // only for regex paths
  size_t prefix_length = 0;    // only for prefix paths
  uint64_t created_order = 0;  // file position: earlier wins (Kong uses created_at)
  size_t path_index = 0;       // order of the route's own paths

  auto key() const {
    // Descending on the Kong fields, ascending on the tie-breakers.
    return std::make_tuple(-match_weight, !plain_hosts_only, -header_count, !regex_path, -regex_priority,
                           -static_cast<long long>(prefix_length), created_order, path_index);
  }
};

struct Candidate {
  const RouteRules* rules = nullptr;
  std::optional<PathRule> path;  // none: the route has no paths
  Priority priority;
};

std::shared_ptr<pcre2_code> compile_shared(std::string_view pattern, uint32_t options,
                                           const conf::Route& route) {
  std::string error;
  auto code = conf::compile_regex(pattern, options, error);
  if (!code)  // conf validation compiles the same patterns, so this is a programming error
    throw std::invalid_argument("route " + route.id + ": invalid regex '" + std::string(pattern) +
                                "': " + error);
  return std::shared_ptr<pcre2_code>(code.release(), pcre2_code_free);
}

HostRule compile_host(const std::string& host) {
  HostRule rule;
  rule.original = host;
  std::string name = host;
  // "host:port" or "[v6]:port"; a bare "[v6]" has no port.
  auto colon = name.rfind(':');
  bool has_port = colon != std::string::npos && (name.starts_with("[") ? name[colon - 1] == ']' : true);
  if (has_port) {
    rule.port = std::stoi(name.substr(colon + 1));
    name = name.substr(0, colon);
  }
  if (name.starts_with("*")) {
    rule.kind = HostRule::Kind::suffix;
    rule.text = name.substr(1);
  } else if (name.ends_with("*")) {
    rule.kind = HostRule::Kind::prefix;
    rule.text = name.substr(0, name.size() - 1);
  } else {
    rule.text = name;
  }
  return rule;
}

PathRule compile_path(const std::string& path, const conf::Route& route) {
  PathRule rule;
  rule.text = path;
  if (!path.starts_with("~")) return rule;
  rule.is_regex = true;
  // Anchored at the start of the path like Kong ("^" prepended), not at the end.
  rule.regex = compile_shared(std::string_view(path).substr(1), PCRE2_ANCHORED, route);
  pcre2_pattern_info(rule.regex.get(), PCRE2_INFO_CAPTURECOUNT, &rule.capture_count);
  uint32_t name_count = 0, entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(rule.regex.get(), PCRE2_INFO_NAMECOUNT, &name_count);
  pcre2_pattern_info(rule.regex.get(), PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(rule.regex.get(), PCRE2_INFO_NAMETABLE, &table);
  for (uint32_t i = 0; i < name_count; ++i) {
    const auto* entry = table + i * entry_size;
    int group = (entry[0] << 8) | entry[1];
    rule.names.emplace_back(reinterpret_cast<const char*>(entry + 2), group);
  }
  return rule;
}

RouteRules compile_route(const conf::Route& route, const conf::Service* service) {
  RouteRules rules{&route, service, {}, {}, {}};
  for (const auto& host : route.hosts) rules.hosts.push_back(compile_host(to_lower(host)));
  for (const auto& [name, values] : route.headers) {
    HeaderRule rule{to_lower(name), {}, {}};
    for (const auto& value : values) {
      if (value.starts_with("~*"))
        rule.regexes.push_back(compile_shared(std::string_view(value).substr(2), PCRE2_CASELESS, route));
      else
        rule.values.push_back(value);
    }
    rules.headers.push_back(std::move(rule));
  }
  for (const auto& sni : route.snis) {
    std::string s = to_lower(sni);
    if (s.size() > 1 && s.ends_with(".")) s.pop_back();  // the FQDN's final dot is not used for routing
    rules.snis.push_back(s);
  }
  return rules;
}

Priority base_priority(const conf::Route& route) {
  Priority p;
  p.match_weight = !route.methods.empty() + !route.hosts.empty() + !route.headers.empty() +
                   !route.snis.empty() + !route.paths.empty();
  p.plain_hosts_only =
      !route.hosts.empty() && std::none_of(route.hosts.begin(), route.hosts.end(),
                                           [](const std::string& h) { return h.find('*') != h.npos; });
  p.header_count = static_cast<int>(std::min<size_t>(route.headers.size(), 255));
  p.created_order = route.created_order;
  return p;
}

// --- candidate index ------------------------------------------------------------------------------
//
// Kong's traditional router indexes plain hosts and prefix paths before walking what is left; so
// does this one. Every candidate lands in exactly one bucket per host key it can match (its plain
// hosts, or "any host" when it has no hosts or a wildcard one), and inside that bucket either in a
// trie of plain prefixes or in the list of candidates that are always tried (regex paths, no
// paths). A request collects the lists of its host's bucket and of the "any host" bucket whose
// prefix starts its path, and merges them by table position: the candidates come out in the
// table's priority order, and each still gets the full check, so the first match is the one the
// linear scan finds.

// Positions in the priority-ordered candidate table, ascending.
using CandidateList = std::vector<uint32_t>;

// Plain prefix paths in a radix trie (edges carry byte strings, split where prefixes diverge). A
// request path walks it once and meets every prefix it begins with. Memory: at most two nodes per
// distinct prefix.
class PrefixTrie {
 public:
  void insert(std::string_view prefix, uint32_t candidate) {
    uint32_t node = 0;
    while (!prefix.empty()) {
      uint32_t next = child(node, prefix[0]);
      if (!next) {
        node = add_child(node, std::string(prefix));
        break;
      }
      const std::string& edge = nodes_[next].edge;
      size_t common =
          std::mismatch(edge.begin(), edge.end(), prefix.begin(), prefix.end()).first - edge.begin();
      if (common < edge.size()) next = split(node, next, common);
      node = next;
      prefix.remove_prefix(common);
    }
    nodes_[node].candidates.push_back(candidate);
  }

  // Calls visit(list) for the candidates of every inserted prefix that `path` starts with.
  template <class Visit>
  void for_each_prefix_of(std::string_view path, Visit&& visit) const {
    uint32_t node = 0;
    while (true) {
      if (!nodes_[node].candidates.empty()) visit(nodes_[node].candidates);
      if (path.empty() || !(node = child(node, path[0])) || !path.starts_with(nodes_[node].edge)) return;
      path.remove_prefix(nodes_[node].edge.size());
    }
  }

 private:
  struct Node {
    std::string edge;                                 // the bytes from the parent to here
    std::vector<std::pair<char, uint32_t>> children;  // by their edge's first byte, sorted
    CandidateList candidates;                         // prefixes ending here
  };

  // 0 = none (the root is nobody's child).
  uint32_t child(uint32_t node, char c) const {
    const auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(c, uint32_t{0}));
    return it != children.end() && it->first == c ? it->second : 0;
  }

  uint32_t add_child(uint32_t parent, std::string edge) {
    auto created = static_cast<uint32_t>(nodes_.size());
    char first = edge[0];
    nodes_.push_back(Node{std::move(edge), {}, {}});
    auto& children = nodes_[parent].children;
    children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(first, uint32_t{0})),
                    {first, created});
    return created;
  }

  // Puts a node after the first `at` bytes of `node`'s edge; returns it.
  uint32_t split(uint32_t parent, uint32_t node, size_t at) {
    std::string head = nodes_[node].edge.substr(0, at);
    auto mid = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(Node{head, {}, {}});
    nodes_[node].edge.erase(0, at);
    nodes_[mid].children.push_back({nodes_[node].edge[0], node});
    for (auto& [first, index] : nodes_[parent].children)
      if (index == node) index = mid;  // same first byte: the order stays
    return mid;
  }

  std::vector<Node> nodes_{1};  // [0] = root (the empty prefix)
};

// The candidates of one host bucket, split by what their path allows to index.
struct PathIndex {
  PrefixTrie prefixes;      // plain prefix paths
  CandidateList unindexed;  // regex paths and routes without paths: always tried

  void add(const Candidate& c, uint32_t position) {
    if (c.path && !c.path->is_regex)
      prefixes.insert(c.path->text, position);
    else
      unindexed.push_back(position);
  }
};

// Request host names are looked up without lower-casing them into a copy.
struct CaseInsensitiveHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    uint64_t h = 14695981039346656037ull;  // FNV-1a
    for (char c : s) h = (h ^ static_cast<unsigned char>(ascii_lower(c))) * 1099511628211ull;
    return h;
  }
};
struct CaseInsensitiveEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return iequals(a, b); }
};

struct CandidateIndex {
  std::unordered_map<std::string, PathIndex, CaseInsensitiveHash, CaseInsensitiveEqual> by_plain_host;
  PathIndex any_host;  // no hosts, or at least one wildcard host

  void add(const Candidate& c, uint32_t position) {
    const auto& hosts = c.rules->hosts;
    bool plain = !hosts.empty() && std::all_of(hosts.begin(), hosts.end(), [](const HostRule& h) {
      return h.kind == HostRule::Kind::exact;
    });
    if (!plain) return any_host.add(c, position);
    // "a.com" and "a.com:8000" share the bucket "a.com" (the port is part of the full check); a
    // candidate goes into each bucket once.
    std::vector<std::string_view> names;
    for (const auto& h : hosts)
      if (std::find(names.begin(), names.end(), h.text) == names.end()) names.push_back(h.text);
    for (auto name : names) by_plain_host[std::string(name)].add(c, position);
  }
};

// Merges ascending candidate lists (disjoint) into one ascending walk.
class CandidateMerge {
 public:
  void clear() { cursors_.clear(); }

  void add(const CandidateList& list) {
    if (!list.empty()) cursors_.push_back({list.data(), list.data() + list.size()});
  }

  // The next position in ascending order, or false when every list is done.
  bool next(uint32_t& position) {
    Cursor* lowest = nullptr;
    for (auto& c : cursors_)
      if (c.at != c.end && (!lowest || *c.at < *lowest->at)) lowest = &c;
    if (!lowest) return false;
    position = *lowest->at++;
    return true;
  }

 private:
  struct Cursor {
    const uint32_t* at;
    const uint32_t* end;
  };
  std::vector<Cursor> cursors_;
};

// --- per-request matching -------------------------------------------------------------------------

// Host header → (host, port); "[v6]:p" keeps the brackets off.
std::pair<std::string_view, int> split_host_port(std::string_view host) {
  if (host.starts_with("[")) {
    auto close = host.find(']');
    if (close == std::string_view::npos) return {host, -1};
    std::string_view name = host.substr(0, close + 1);
    if (close + 1 < host.size() && host[close + 1] == ':') {
      int port = 0;
      for (char c : host.substr(close + 2)) {
        if (c < '0' || c > '9') return {name, -1};
        port = port * 10 + (c - '0');
      }
      return {name, port};
    }
    return {name, -1};
  }
  auto colon = host.find(':');
  if (colon == std::string_view::npos) return {host, -1};
  int port = 0;
  for (char c : host.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return {host, -1};
    port = port * 10 + (c - '0');
  }
  return {host.substr(0, colon), port};
}

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

const HostRule* match_host(const RouteRules& rules, std::string_view host, int port) {
  for (const auto& rule : rules.hosts) {
    if (rule.port >= 0 && rule.port != port) continue;
    bool ok = false;
    switch (rule.kind) {
      case HostRule::Kind::exact:
        ok = iequals(host, rule.text);
        break;
      case HostRule::Kind::suffix:
        ok = ends_with_icase(host, rule.text);
        break;
      case HostRule::Kind::prefix:
        ok = starts_with_icase(host, rule.text);
        break;
    }
    if (ok) return &rule;
  }
  return nullptr;
}

// A pcre2_match_data per thread, grown to the largest capture count seen: matching allocates
// nothing once warm.
pcre2_match_data* thread_match_data(uint32_t capture_count) {
  struct Holder {
    pcre2_match_data* data = nullptr;
    uint32_t pairs = 0;
    ~Holder() { pcre2_match_data_free(data); }
  };
  thread_local Holder holder;
  if (holder.pairs < capture_count + 1) {
    pcre2_match_data_free(holder.data);
    holder.pairs = std::max<uint32_t>(capture_count + 1, 16);
    holder.data = pcre2_match_data_create(holder.pairs, nullptr);
  }
  return holder.data;
}

bool regex_search(const pcre2_code* code, std::string_view subject) {
  uint32_t captures = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures);
  auto* data = thread_match_data(captures);
  return pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, data,
                     nullptr) >= 0;
}

bool match_headers(const RouteRules& rules, const RouteRequest& req) {
  if (rules.headers.empty()) return true;
  if (!req.header_values) return false;
  for (const auto& rule : rules.headers) {
    bool found = false;
    for (auto value : req.header_values(rule.name)) {
      found = std::any_of(rule.values.begin(), rule.values.end(),
                          [&](const auto& v) { return iequals(v, value); }) ||
              std::any_of(rule.regexes.begin(), rule.regexes.end(),
                          [&](const auto& re) { return regex_search(re.get(), value); });
      if (found) break;
    }
    if (!found) return false;
  }
  return true;
}

bool match_sni(const RouteRules& rules, const RouteRequest& req) {
  // Kong: SNI criteria only apply to TLS requests; a plain-HTTP request ignores them.
  if (rules.snis.empty() || req.scheme != "https") return true;
  std::string_view sni = req.sni;
  if (sni.size() > 1 && sni.ends_with(".")) sni.remove_suffix(1);
  return std::any_of(rules.snis.begin(), rules.snis.end(), [&](const std::string& s) {
    if (s.starts_with("*")) return ends_with_icase(sni, std::string_view(s).substr(1));
    if (s.ends_with("*")) return starts_with_icase(sni, std::string_view(s).substr(0, s.size() - 1));
    return iequals(sni, s);
  });
}

// Matches the path rule; on success fills matched_path and captures of `out`.
bool match_path(const PathRule& rule, std::string_view path, RouteMatch& out) {
  if (!rule.is_regex) {
    if (!path.starts_with(rule.text)) return false;
    out.matched_path = rule.text;
    return true;
  }
  auto* data = thread_match_data(rule.capture_count);
  int rc = pcre2_match(rule.regex.get(), reinterpret_cast<PCRE2_SPTR>(path.data()), path.size(), 0, 0, data,
                       nullptr);
  if (rc < 0) return false;
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
  auto group = [&](uint32_t i) -> std::string {
    if (ovector[2 * i] == PCRE2_UNSET) return {};
    return std::string(path.substr(ovector[2 * i], ovector[2 * i + 1] - ovector[2 * i]));
  };
  out.matched_path = group(0);
  out.captures_unnamed.clear();
  for (uint32_t i = 0; i <= rule.capture_count; ++i) out.captures_unnamed.push_back(group(i));
  for (const auto& [name, index] : rule.names) out.captures_named[name] = group(static_cast<uint32_t>(index));
  return true;
}

// --- upstream path (Kong's path_handling v0 / v1) ------------------------------------------------

// Kong drops a leading "." / ".." segment of the stripped remainder, so stripping cannot be used
// to climb above the service path.
std::string_view sanitize_postfix(std::string_view postfix) {
  if (postfix == "." || postfix == "..") return {};
  if (postfix.starts_with("./")) return postfix.substr(2);
  if (postfix.starts_with("../")) return postfix.substr(3);
  return postfix;
}

std::string upstream_path_v0(bool strip, std::string_view base, std::string_view postfix,
                             std::string_view req) {
  if (base.ends_with("/")) {
    if (!strip) return std::string(base) + std::string(req.substr(1));
    if (postfix.empty()) {
      if (base == "/" || req.ends_with("/")) return std::string(base);
      return std::string(base.substr(0, base.size() - 1));
    }
    if (postfix.starts_with("/")) return std::string(base.substr(0, base.size() - 1)) + std::string(postfix);
    return std::string(base) + std::string(postfix);
  }
  if (!strip) return req == "/" ? std::string(base) : std::string(base) + std::string(req);
  if (postfix.empty())
    return req.size() > 1 && req.ends_with("/") ? std::string(base) + "/" : std::string(base);
  if (postfix.starts_with("/")) return std::string(base) + std::string(postfix);
  return std::string(base) + "/" + std::string(postfix);
}

std::string upstream_path_v1(bool strip, std::string_view base, std::string_view postfix,
                             std::string_view req) {
  if (!strip) return std::string(base) + std::string(req.substr(1));
  if (base.ends_with("/") && postfix.starts_with("/"))
    return std::string(base.substr(0, base.size() - 1)) + std::string(postfix);
  return std::string(base) + std::string(postfix);
}

std::string upstream_path(const conf::Route& route, const conf::Service* service, std::string_view req,
                          const RouteMatch& m, bool path_matched) {
  std::string_view base = service && !service->path.empty() ? std::string_view(service->path) : "/";
  bool strip_matched = route.strip_path && path_matched;
  std::string_view postfix = sanitize_postfix(
      strip_matched ? req.substr(std::min(m.matched_path.size(), req.size())) : req.substr(1));
  return route.path_handling == "v1" ? upstream_path_v1(route.strip_path, base, postfix, req)
                                     : upstream_path_v0(route.strip_path, base, postfix, req);
}

bool is_unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool needs_normalizing(std::string_view path) {
  return path.find('%') != std::string_view::npos || path.find("//") != std::string_view::npos ||
         path.find("/.") != std::string_view::npos || !path.starts_with("/");
}

// The request as every candidate sees it: the normalised path, the host and port split apart.
struct PreparedRequest {
  explicit PreparedRequest(const RouteRequest& r) : req(r) {
    path = req.path;
    if (needs_normalizing(path)) {
      normalized = normalize_path(path);
      path = normalized;
    }
    auto [name, host_port] = split_host_port(req.host);
    host = name;
    port = req.port != 0 ? req.port : host_port;
  }
  PreparedRequest(const PreparedRequest&) = delete;  // `path` may point into `normalized`
  PreparedRequest& operator=(const PreparedRequest&) = delete;

  const RouteRequest& req;
  std::string normalized;
  std::string_view path;
  std::string_view host;
  int port = -1;
};

// The full check of one candidate (method, host, SNI, headers, path); fills `m` on a match.
bool try_candidate(const Candidate& candidate, const PreparedRequest& p, RouteMatch& m) {
  const RouteRules& rules = *candidate.rules;
  const conf::Route& route = *rules.route;
  if (!route.methods.empty() &&
      std::find(route.methods.begin(), route.methods.end(), p.req.method) == route.methods.end())
    return false;
  const HostRule* host_rule = nullptr;
  if (!rules.hosts.empty() && !(host_rule = match_host(rules, p.host, p.port))) return false;
  if (!match_sni(rules, p.req) || !match_headers(rules, p.req)) return false;
  if (candidate.path && !match_path(*candidate.path, p.path, m)) return false;

  m.route = &route;
  m.service = rules.service;
  m.matched_host = host_rule ? host_rule->original : "";
  m.upstream_path = upstream_path(route, rules.service, p.path, m, candidate.path.has_value());
  return true;
}

}  // namespace

std::string normalize_path(std::string_view path) {
  // 1. Percent-decoding of unreserved characters; other escapes get upper-case hex.
  std::string decoded;
  decoded.reserve(path.size() + 1);
  if (!path.starts_with("/")) decoded += '/';
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && hex_value(path[i + 1]) >= 0 && hex_value(path[i + 2]) >= 0) {
      char c = static_cast<char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
      if (is_unreserved(c)) {
        decoded += c;
      } else {
        decoded += '%';
        decoded += static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 1])));
        decoded += static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 2])));
      }
      i += 2;
    } else {
      decoded += path[i];
    }
  }
  // 2. Merged slashes and dot segments (RFC 3986 §5.2.4), segment by segment.
  std::vector<std::string_view> segments;
  std::string_view rest(decoded);
  bool trailing_slash = false;
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    auto end = rest.find('/');
    std::string_view segment = rest.substr(0, end);
    bool last = end == std::string_view::npos;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      trailing_slash = true;
    } else if (segment == ".") {
      trailing_slash = true;
    } else if (segment.empty()) {
      trailing_slash = last;  // "//" merges; a final "/" is kept
    } else {
      segments.push_back(segment);
      trailing_slash = false;
    }
    if (last) break;
    rest.remove_prefix(end);
  }
  std::string out;
  for (auto segment : segments) {
    out += '/';
    out += segment;
  }
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

struct Router::Compiled {
  std::vector<RouteRules> routes;  // reserved up front: candidates point into it
  std::vector<Candidate> candidates;
  CandidateIndex index;
};

Router::Router(const conf::Declarative& config) : compiled_(std::make_unique<Compiled>()) {
  compiled_->routes.reserve(config.routes.size());
  for (const auto& route : config.routes) {
    bool http = std::any_of(route.protocols.begin(), route.protocols.end(),
                            [](const std::string& p) { return kHttpProtocols.count(p) > 0; });
    if (!http) continue;
    const conf::Service* service = route.service_id.empty() ? nullptr : config.find_service(route.service_id);
    if (service && !service->enabled) continue;  // Kong: routes of a disabled service are not routable
    compiled_->routes.push_back(compile_route(route, service));
    const RouteRules* rules = &compiled_->routes.back();

    Priority base = base_priority(route);
    if (route.paths.empty()) {
      compiled_->candidates.push_back(Candidate{rules, std::nullopt, base});
      continue;
    }
    // One candidate per path: each path carries its own priority (Kong splits routes by path).
    for (size_t i = 0; i < route.paths.size(); ++i) {
      Candidate c{rules, compile_path(route.paths[i], route), base};
      c.priority.path_index = i;
      c.priority.regex_path = c.path->is_regex;
      if (c.path->is_regex)
        c.priority.regex_priority = route.regex_priority;
      else
        c.priority.prefix_length = route.paths[i].size();
      compiled_->candidates.push_back(std::move(c));
    }
  }
  std::stable_sort(
      compiled_->candidates.begin(), compiled_->candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.priority.key() < b.priority.key(); });
  for (size_t i = 0; i < compiled_->candidates.size(); ++i)
    compiled_->index.add(compiled_->candidates[i], static_cast<uint32_t>(i));
  spdlog::debug("router: {} routes, {} candidates", compiled_->routes.size(), compiled_->candidates.size());
}

Router::~Router() = default;

size_t Router::candidate_count() const {
  return compiled_->candidates.size();
}

std::optional<RouteMatch> Router::match(const RouteRequest& req) const {
  PreparedRequest prepared(req);
  const CandidateIndex& index = compiled_->index;
  // Reused per thread: collecting the lists allocates nothing once warm.
  thread_local CandidateMerge merge;
  merge.clear();
  auto collect = [&](const PathIndex& bucket) {
    merge.add(bucket.unindexed);
    bucket.prefixes.for_each_prefix_of(prepared.path, [&](const CandidateList& list) { merge.add(list); });
  };
  collect(index.any_host);
  if (!index.by_plain_host.empty())
    if (auto it = index.by_plain_host.find(prepared.host); it != index.by_plain_host.end())
      collect(it->second);

  RouteMatch m;
  for (uint32_t position; merge.next(position);)
    if (try_candidate(compiled_->candidates[position], prepared, m)) return m;
  return std::nullopt;
}

std::optional<RouteMatch> Router::match_linear(const RouteRequest& req) const {
  PreparedRequest prepared(req);
  RouteMatch m;
  for (const auto& candidate : compiled_->candidates)
    if (try_candidate(candidate, prepared, m)) return m;
  return std::nullopt;
}

}  // namespace gh::router
