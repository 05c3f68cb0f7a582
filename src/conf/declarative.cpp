#include "conf/declarative.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <set>
#include <utility>

#include "common/files.h"
#include "common/log.h"
#include "common/strings.h"
#include "conf/error.h"
#include "conf/pem.h"
#include "conf/regex.h"
#include "conf/upstream_fields.h"
#include "conf/yaml_fields.h"
#include "conf/yaml_guard.h"

namespace gh::conf {

namespace {

const std::set<std::string> kServiceProtocols = {"grpc", "grpcs",           "http", "https", "tcp",
                                                 "tls",  "tls_passthrough", "udp",  "ws",    "wss"};
const std::set<std::string> kRouteProtocols = kServiceProtocols;
const std::set<std::string> kHttpRouteProtocols = {"http", "https", "grpc", "grpcs", "ws", "wss"};
const std::set<std::string> kSniProtocols = {"https", "grpcs", "tls", "tls_passthrough", "wss"};
// Credentials gatehouse reads (for its native key-auth, basic-auth, jwt and acl), and those Kong
// knows for plugins gatehouse does not bundle.
const std::vector<std::string> kCredentialKeys = {"keyauth_credentials", "basicauth_credentials",
                                                  "jwt_secrets", "acls"};
const std::set<std::string> kUnsupportedCredentialKeys = {"hmacauth_credentials", "oauth2_credentials",
                                                          "mtls_auth_credentials"};
const std::set<std::string> kUnsupportedTopLevel = {
    "vaults", "keys", "key_sets", "filter_chains", "consumer_groups", "parameters"};
constexpr int kMaxTimeout = 2147483646;

// A plugin whose service/route/consumer references are resolved after every entity is known.
struct PendingPlugin {
  Plugin plugin;
  Field where;  // the plugin entity, for errors
  std::optional<Field> service_ref, route_ref, consumer_ref;
};

// Kong's wildcard_host rule for SNI names: host name characters, at most one '*', and only as
// the whole leftmost or rightmost label ("*.example.com", "example.*"); "*" alone is the
// catch-all certificate. Returns "" when valid.
std::string sni_name_problem(const std::string& name) {
  if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_*") != std::string::npos)
    return "only letters, digits, '.', '-', '_' and one '*' are allowed (no port, no IPv6)";
  auto stars = std::count(name.begin(), name.end(), '*');
  if (stars > 1) return "only one wildcard is allowed";
  if (stars == 1 && name != "*" && !name.starts_with("*.") && !name.ends_with(".*"))
    return "the wildcard must be the leftmost or rightmost label";
  return "";
}

struct TooManyErrors : ConfigError {
  using ConfigError::ConfigError;
};

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {
    out_.loaded_at = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()) /
                     1000;
  }

  Declarative load(const YAML::Node& root) {
    Field top{file_, root, ""};
    if (!root.IsMap()) top.fail("the top level must be a mapping (is the file empty?)");
    read_format_version(top);
    check_top_level_keys(top);
    transform_ = top.bool_or("_transform", true);
    collect([&] { for_each_item(top, "services", [&](const Field& f, size_t) { read_service(f); }); });
    collect([&] { for_each_item(top, "routes", [&](const Field& f, size_t) { read_route(f, nullptr); }); });
    collect([&] { for_each_item(top, "consumers", [&](const Field& f, size_t) { read_consumer(f); }); });
    collect([&] { read_top_level_credentials(top); });
    collect([&] { for_each_item(top, "upstreams", [&](const Field& f, size_t) { read_upstream(f); }); });
    collect(
        [&] { for_each_item(top, "targets", [&](const Field& f, size_t) { read_top_level_target(f); }); });
    collect(
        [&] { for_each_item(top, "certificates", [&](const Field& f, size_t) { read_certificate(f); }); });
    collect([&] { for_each_item(top, "snis", [&](const Field& f, size_t) { read_top_level_sni(f); }); });
    collect([&] {
      for_each_item(top, "ca_certificates", [&](const Field& f, size_t) { read_ca_certificate(f); });
    });
    collect([&] { for_each_item(top, "plugins", [&](const Field& f, size_t) { read_plugin(f, {}); }); });
    // Cross-references only once every entity loaded: an entity refused above would make them
    // report missing references that are not the user's mistake.
    if (errors_.empty()) {
      resolve_plugins();
      resolve_service_tls();
    }
    throw_collected();
    out_.index_consumers();
    return std::move(out_);
  }

 private:
  // --- helpers -------------------------------------------------------------------------------

  template <typename Fn>
  void for_each_item(const Field& parent, const std::string& key, Fn&& fn) {
    auto list = parent.child(key);
    if (!list) return;
    if (!list->node.IsSequence()) list->fail("expected a list");
    for (size_t i = 0; i < list->node.size(); ++i) {
      Field item = list->item(i);
      if (!item.node.IsMap()) item.fail("expected a mapping");
      // Name the entity in later messages: "routes[2] (name 'api')".
      const YAML::Node& node = item.node;  // const: lookups must not insert keys
      if (auto name = node["name"]; name && name.IsScalar())
        item.path += " (name '" + name.Scalar() + "')";
      else if (auto user = node["username"]; user && user.IsScalar())
        item.path += " (username '" + user.Scalar() + "')";
      collect([&] { fn(item, i); });
    }
  }

  // Runs `step`; an entity's error is kept and loading goes on with the next entity, so that one
  // load reports every broken entity (POST /config lists them all), up to kMaxErrors.
  template <typename Step>
  void collect(Step&& step) {
    try {
      step();
    } catch (const TooManyErrors&) {
      throw;  // the limit ends the load, through every nesting level
    } catch (const ConfigError& e) {
      errors_.push_back(e.what());
      if (errors_.size() >= kMaxErrors) throw_collected();
    }
  }

  // One ConfigError with every error kept, one per line.
  void throw_collected() {
    if (errors_.empty()) return;
    std::string all;
    for (const auto& error : errors_) all += (all.empty() ? "" : "\n") + error;
    if (errors_.size() >= kMaxErrors)
      throw TooManyErrors(all + "\n(stopped after " + std::to_string(kMaxErrors) + " errors)");
    throw ConfigError(all);
  }

  std::string entity_id(const Field& f, const std::string& seed) {
    std::string id = f.string_or("id", "");
    if (id.empty())
      id = deterministic_uuid(seed);
    else if (!is_uuid(id))
      f.child("id")->fail("expected a valid UUID, got '" + id + "'");
    if (!ids_.insert(id).second) (f.child("id") ? *f.child("id") : f).fail("duplicate id '" + id + "'");
    read_created_at(f, id, true);
    return id;
  }

  // Kong keeps a created_at the kong.yml gives (a `db_export` or decK dump carries them): an
  // integer of seconds, or a number with milliseconds for targets.
  void read_created_at(const Field& f, const std::string& id, bool whole_seconds) {
    auto value = f.child("created_at");
    if (!value) return;
    const std::string text = value->scalar();
    char* end = nullptr;
    const double seconds = std::strtod(text.c_str(), &end);
    const bool number = !text.empty() && end == text.c_str() + text.size() && std::isfinite(seconds);
    if (!number || (whole_seconds && !parse_int_text(text)))
      value->fail(std::string(whole_seconds ? "expected an integer" : "expected a number") + ", got '" +
                  text + "'");
    if (seconds < 0 || seconds > kMaxTimestamp) value->fail("value should be between 0 and 4102444800");
    out_.created_at[id] = seconds;
  }

  void check_unique_name(const Field& f, std::set<std::string>& names, const std::string& name) {
    if (name.empty()) return;
    if (!names.insert(name).second) f.child("name")->fail("duplicate name '" + name + "'");
  }

  // --- _format_version and unknown keys --------------------------------------------------------

  void read_format_version(const Field& top) {
    auto version = top.child("_format_version");
    if (!version) top.fail("missing _format_version (expected \"3.0\", \"2.1\" or \"1.1\")");
    out_.format_version = version->scalar();
    if (out_.format_version != "3.0" && out_.format_version != "2.1" && out_.format_version != "1.1")
      version->fail("unsupported version '" + out_.format_version +
                    "' (expected \"3.0\", \"2.1\" or \"1.1\")");
    legacy_paths_ = out_.format_version != "3.0";
  }

  // Kong's declarative schema is a record: an unknown top-level key is an error there too.
  // Entities Kong knows but gatehouse does not implement are warned about and ignored, except
  // credentials: ignoring those would silently drop what authenticates consumers.
  void check_top_level_keys(const Field& top) {
    static const std::set<std::string> known = {"_format_version", "_transform", "_comment",       "_ignore",
                                                "_workspace",      "_info",      "services",       "routes",
                                                "consumers",       "plugins",    "upstreams",      "targets",
                                                "certificates",    "snis",       "ca_certificates"};
    auto is_known = [&](const std::string& key) {
      return known.count(key) ||
             std::find(kCredentialKeys.begin(), kCredentialKeys.end(), key) != kCredentialKeys.end();
    };
    check_extra_attributes(top);
    for (const auto& entry : top.node) {
      auto key = entry.first.Scalar();
      Field where{file_, entry.first, key};
      if (kUnsupportedCredentialKeys.count(key))
        where.fail("'" + key +
                   "' entities are not supported (gatehouse bundles key-auth, basic-auth, jwt and "
                   "acl); gatehouse refuses them rather than ignore credentials");
      if (kUnsupportedTopLevel.count(key))
        spdlog::warn("{}:{}: '{}' entities are not supported by gatehouse and are ignored", file_,
                     entry.first.Mark().line + 1, key);
      else if (!is_known(key))
        where.fail("unknown field");
    }
  }

  // Kong adds `_comment` (a string) and `_ignore` (a list of anything) to the top level and to
  // every entity of a declarative file.
  static void check_extra_attributes(const Field& f) {
    if (auto comment = f.child("_comment")) comment->scalar();
    if (auto ignore = f.child("_ignore"); ignore && !ignore->node.IsSequence())
      ignore->fail("expected a list");
  }

  static void allow_entity_fields(const Field& f, std::set<std::string> allowed) {
    allowed.insert({"_comment", "_ignore"});
    f.allow_only(allowed);
    check_extra_attributes(f);
  }

  // --- services --------------------------------------------------------------------------------

  void read_service(const Field& f) {
    allow_entity_fields(f, {"id",
                            "name",
                            "url",
                            "protocol",
                            "host",
                            "port",
                            "path",
                            "retries",
                            "connect_timeout",
                            "write_timeout",
                            "read_timeout",
                            "tags",
                            "enabled",
                            "tls_verify",
                            "tls_verify_depth",
                            "client_certificate",
                            "ca_certificates",
                            "routes",
                            "plugins",
                            "created_at",
                            "updated_at"});
    Service s;
    s.name = f.string_or("name", "");
    check_unique_name(f, service_names_, s.name);
    s.id = entity_id(f, "service:" + (s.name.empty() ? std::to_string(f.node.Mark().pos) : s.name));
    read_service_address(f, s);
    s.retries = f.int_or("retries", s.retries, 0, 32767);
    s.connect_timeout_ms = f.int_or("connect_timeout", s.connect_timeout_ms, 1, kMaxTimeout);
    s.write_timeout_ms = f.int_or("write_timeout", s.write_timeout_ms, 1, kMaxTimeout);
    s.read_timeout_ms = f.int_or("read_timeout", s.read_timeout_ms, 1, kMaxTimeout);
    s.enabled = f.bool_or("enabled", true);
    s.tls_verify = f.bool_or("tls_verify", false);
    s.tls_verify_depth = f.int_or("tls_verify_depth", -1, 0, 64);
    pending_service_tls_.push_back(
        {out_.services.size(), f.child("client_certificate"), f.child("ca_certificates")});
    s.tags = f.string_list("tags");
    out_.services.push_back(s);
    if (!s.name.empty()) service_by_ref_[s.name] = s.id;
    service_by_ref_[s.id] = s.id;

    for_each_item(f, "routes", [&](const Field& rf, size_t) { read_route(rf, &s); });
    for_each_item(f, "plugins", [&](const Field& pf, size_t) { read_plugin(pf, Scope{s.id, "", ""}); });
  }

  void read_service_address(const Field& f, Service& s) {
    if (auto url = f.child("url")) {
      // Kong's `url` shorthand sets protocol, host, port and path, replacing any given.
      parse_service_url(*url, s);
    } else {
      s.protocol = f.string_or("protocol", "http");
      if (!kServiceProtocols.count(s.protocol)) f.child("protocol")->fail(expected_one_of(kServiceProtocols));
      auto host = f.child("host");
      if (!host) f.fail("a service needs 'url' or 'host'");
      s.host = host->scalar();
      s.port = static_cast<uint16_t>(f.int_or("port", 80, 0, 65535));
      s.path = f.string_or("path", "");
      if (!s.path.empty() && s.path[0] != '/') f.child("path")->fail("must start with '/'");
    }
    if (s.host.empty()) f.fail("host must not be empty");
    if (!s.path.empty() && s.protocol != "http" && s.protocol != "https")
      f.fail("path can only be set when protocol is 'http' or 'https'");
  }

  // scheme://host[:port][/path]; Kong takes the port from the scheme when absent.
  void parse_service_url(const Field& url, Service& s) {
    std::string text = url.scalar();
    auto scheme_end = text.find("://");
    if (scheme_end == std::string::npos)
      url.fail("invalid URL '" + text + "' (expected scheme://host[:port][/path])");
    s.protocol = to_lower(text.substr(0, scheme_end));
    if (!kServiceProtocols.count(s.protocol)) url.fail("unsupported scheme '" + s.protocol + "'");
    std::string rest = text.substr(scheme_end + 3);
    auto path_start = rest.find_first_of("/?#");
    std::string authority = rest.substr(0, path_start);
    if (path_start != std::string::npos && rest[path_start] == '/')
      s.path = rest.substr(path_start, rest.find_first_of("?#", path_start) - path_start);
    if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);

    std::string port_text;
    if (authority.starts_with("[")) {
      auto close = authority.find(']');
      if (close == std::string::npos) url.fail("invalid IPv6 host in '" + text + "'");
      s.host = authority.substr(1, close - 1);
      if (close + 1 < authority.size() && authority[close + 1] == ':')
        port_text = authority.substr(close + 2);
    } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
      s.host = authority.substr(0, colon);
      port_text = authority.substr(colon + 1);
    } else {
      s.host = authority;
    }
    if (s.host.empty()) url.fail("missing host in '" + text + "'");
    if (port_text.empty()) {
      static const std::set<std::string> tls = {"https", "grpcs", "wss", "tls"};
      s.port = tls.count(s.protocol) ? 443 : 80;
    } else {
      auto port = parse_int_text(port_text);
      if (!port || *port < 0 || *port > 65535) url.fail("invalid port '" + port_text + "'");
      s.port = static_cast<uint16_t>(*port);
    }
  }

  // --- routes ----------------------------------------------------------------------------------

  void read_route(const Field& f, const Service* parent) {
    allow_entity_fields(f, {"id",
                            "name",
                            "service",
                            "protocols",
                            "methods",
                            "hosts",
                            "paths",
                            "headers",
                            "snis",
                            "sources",
                            "destinations",
                            "strip_path",
                            "preserve_host",
                            "regex_priority",
                            "path_handling",
                            "https_redirect_status_code",
                            "request_buffering",
                            "response_buffering",
                            "tags",
                            "plugins",
                            "created_at",
                            "updated_at"});
    Route r;
    r.name = f.string_or("name", "");
    check_unique_name(f, route_names_, r.name);
    r.id = entity_id(f, "route:" + (r.name.empty() ? std::to_string(f.node.Mark().pos) : r.name));
    r.created_order = f.node.Mark().pos;
    if (parent) {
      if (f.child("service")) f.child("service")->fail("a route nested under a service cannot name another");
      r.service_id = parent->id;
    } else if (auto ref = f.child("service")) {
      r.service_id = resolve(*ref, service_by_ref_, "service");
    }

    read_route_protocols(f, r);
    read_route_methods(f, r);
    read_route_hosts(f, r);
    read_route_paths(f, r);
    read_route_headers(f, r);
    r.snis = f.string_list("snis");
    for (auto& sni : r.snis) sni = to_lower(sni);
    r.sources = read_stream_endpoints(f, "sources");
    r.destinations = read_stream_endpoints(f, "destinations");

    r.strip_path = f.bool_or("strip_path", true);
    r.preserve_host = f.bool_or("preserve_host", false);
    r.regex_priority = f.int_or("regex_priority", 0, -(1 << 30), 1 << 30);
    r.path_handling = f.string_or("path_handling", "v0");
    if (r.path_handling != "v0" && r.path_handling != "v1")
      f.child("path_handling")->fail("expected one of: v0, v1");
    r.https_redirect_status_code = f.int_or("https_redirect_status_code", 426, 0, 999);
    static const std::set<int> redirect_codes = {426, 301, 302, 307, 308};
    if (!redirect_codes.count(r.https_redirect_status_code))
      f.child("https_redirect_status_code")->fail("expected one of: 301, 302, 307, 308, 426");
    r.request_buffering = f.bool_or("request_buffering", true);
    r.response_buffering = f.bool_or("response_buffering", true);
    r.tags = f.string_list("tags");
    check_route_has_criteria(f, r);

    out_.routes.push_back(r);
    if (!r.name.empty()) route_by_ref_[r.name] = r.id;
    route_by_ref_[r.id] = r.id;
    for_each_item(f, "plugins", [&](const Field& pf, size_t) { read_plugin(pf, Scope{"", r.id, ""}); });
  }

  void read_route_protocols(const Field& f, Route& r) {
    if (!f.child("protocols")) return;
    r.protocols = f.string_list("protocols");
    if (r.protocols.empty()) f.child("protocols")->fail("must not be empty");
    for (size_t i = 0; i < r.protocols.size(); ++i)
      if (!kRouteProtocols.count(r.protocols[i]))
        f.child("protocols")->item(i).fail(expected_one_of(kRouteProtocols));
  }

  void read_route_methods(const Field& f, Route& r) {
    r.methods = f.string_list("methods");
    for (size_t i = 0; i < r.methods.size(); ++i) {
      const auto& m = r.methods[i];
      bool upper = !m.empty() && std::all_of(m.begin(), m.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
      if (!upper) f.child("methods")->item(i).fail("invalid method '" + m + "': must be upper-case letters");
    }
  }

  void read_route_hosts(const Field& f, Route& r) {
    r.hosts = f.string_list("hosts");
    for (size_t i = 0; i < r.hosts.size(); ++i) {
      r.hosts[i] = to_lower(r.hosts[i]);
      if (auto problem = host_problem(r.hosts[i])) f.child("hosts")->item(i).fail(*problem);
    }
  }

  // Kong: one '*' at most, as the whole leftmost or rightmost label; an optional :port.
  static std::optional<std::string> host_problem(const std::string& host) {
    std::string name = host;
    auto colon = name.rfind(':');
    bool bracketed = name.starts_with("[");
    if (colon != std::string::npos && (!bracketed || name[colon - 1] == ']')) {
      auto port = parse_int_text(name.substr(colon + 1));
      if (!port || *port < 0 || *port > 65535) return "invalid port in host '" + host + "'";
      name = name.substr(0, colon);
    }
    if (name.empty()) return std::string("host must not be empty");
    if (bracketed) {  // IPv6 literal
      boost::system::error_code ec;
      if (!name.ends_with("]") || (boost::asio::ip::make_address_v6(name.substr(1, name.size() - 2), ec), ec))
        return "invalid IPv6 host '" + host + "'";
      return std::nullopt;
    }
    auto stars = std::count(name.begin(), name.end(), '*');
    if (stars > 1) return "invalid wildcard host '" + host + "': only one wildcard is allowed";
    if (stars == 1 && !name.starts_with("*.") && !name.ends_with(".*"))
      return "invalid wildcard host '" + host + "': the wildcard must be leftmost or rightmost";
    for (char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '*'))
        return "invalid hostname '" + host + "'";
    return std::nullopt;
  }

  void read_route_paths(const Field& f, Route& r) {
    r.paths = f.string_list("paths");
    for (size_t i = 0; i < r.paths.size(); ++i) {
      auto& path = r.paths[i];
      Field where = f.child("paths")->item(i);
      if (legacy_paths_ && looks_like_legacy_regex(path)) {
        spdlog::warn(
            "{}: _format_version {} path '{}' looks like a regex: treated as '~{}' (as Kong 3.x does)",
            where.location(), out_.format_version, path, path);
        path = "~" + path;
      }
      if (path.empty() || (path[0] != '/' && path[0] != '~')) where.fail("must start with '/' or '~'");
      if (path[0] == '~') {
        if (auto error = regex_compile_error(std::string_view(path).substr(1)))
          where.fail("invalid regex '" + path.substr(1) + "': " + *error);
      }
    }
  }

  // Kong 3.0 migrated 2.x paths containing characters outside [A-Za-z0-9.-_~/%] to regexes.
  static bool looks_like_legacy_regex(const std::string& path) {
    if (path.starts_with("~")) return false;
    return std::any_of(path.begin(), path.end(), [](char c) {
      return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '~' ||
               c == '/' || c == '%');
    });
  }

  void read_route_headers(const Field& f, Route& r) {
    auto headers = f.child("headers");
    if (!headers) return;
    if (!headers->node.IsMap()) headers->fail("expected a mapping of header name to values");
    for (const auto& entry : headers->node) {
      std::string name = to_lower(entry.first.Scalar());
      Field value{file_, entry.second, headers->path + "." + name};
      if (name == "host")
        value.fail("cannot contain 'host' header, which must be specified in the 'hosts' attribute");
      std::vector<std::string> values =
          value.node.IsSequence() ? value.as_string_list() : std::vector{value.scalar()};
      if (values.empty()) value.fail("must have at least one value");
      for (const auto& v : values)
        if (v.starts_with("~*"))
          if (auto error = regex_compile_error(std::string_view(v).substr(2)))
            value.fail("invalid regex '" + v.substr(2) + "': " + *error);
      r.headers[name] = values;
    }
  }

  // Stream routes' `sources` / `destinations`: [{ip: "10.0.0.0/8", port: 1234}, ...], each with
  // an ip (address or CIDR), a port, or both.
  std::vector<StreamEndpoint> read_stream_endpoints(const Field& f, const std::string& key) {
    std::vector<StreamEndpoint> out;
    auto list = f.child(key);
    if (!list) return out;
    if (!list->node.IsSequence()) list->fail("expected a list");
    for (size_t i = 0; i < list->node.size(); ++i) {
      Field item = list->item(i);
      if (!item.node.IsMap()) item.fail("expected a mapping with 'ip' and/or 'port'");
      item.allow_only({"ip", "port"});
      StreamEndpoint e;
      if (auto ip = item.child("ip")) {
        try {
          e.ip = Cidr::parse(ip->scalar());
        } catch (const ConfigError& error) {
          ip->fail(error.what());
        }
      }
      e.port = static_cast<uint16_t>(item.int_or("port", 0, 1, 65535));
      if (!e.ip && e.port == 0) item.fail("must set 'ip' or 'port'");
      out.push_back(e);
    }
    return out;
  }

  void check_stream_route(const Field& f, const Route& r) {
    static const std::set<std::string> stream = {"tcp", "tls", "udp", "tls_passthrough"};
    bool is_stream = std::all_of(r.protocols.begin(), r.protocols.end(),
                                 [](const std::string& p) { return stream.count(p) > 0; });
    bool any_stream = std::any_of(r.protocols.begin(), r.protocols.end(),
                                  [](const std::string& p) { return stream.count(p) > 0; });
    if (any_stream && !is_stream)
      f.child("protocols")
          ->fail("stream protocols (tcp, tls, tls_passthrough, udp) cannot be mixed with http ones");
    if (!is_stream && (!r.sources.empty() || !r.destinations.empty()))
      f.fail(
          "'sources' and 'destinations' can only be set when 'protocols' is 'tcp', 'tls', 'tls_passthrough' "
          "or "
          "'udp'");
    if (!is_stream) return;
    if (r.sources.empty() && r.destinations.empty() && r.snis.empty())
      f.fail("must set one of 'sources', 'destinations', 'snis' when 'protocols' is a stream protocol");
    bool passthrough = std::count(r.protocols.begin(), r.protocols.end(), "tls_passthrough") > 0;
    if (passthrough && r.snis.empty()) f.fail("'tls_passthrough' routes need 'snis'");
  }

  void check_route_has_criteria(const Field& f, const Route& r) {
    check_stream_route(f, r);
    bool http = std::any_of(r.protocols.begin(), r.protocols.end(),
                            [](const std::string& p) { return kHttpRouteProtocols.count(p) > 0; });
    if (http && r.methods.empty() && r.hosts.empty() && r.paths.empty() && r.headers.empty() &&
        r.snis.empty())
      f.fail(
          "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'http' or "
          "'https'");
    bool sni_allowed = std::any_of(r.protocols.begin(), r.protocols.end(),
                                   [](const std::string& p) { return kSniProtocols.count(p) > 0; });
    if (!r.snis.empty() && !sni_allowed)
      f.child("snis")->fail(
          "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'");
  }

  // --- consumers -------------------------------------------------------------------------------

  void read_consumer(const Field& f) {
    std::set<std::string> allowed = {"id",      "username",   "custom_id", "tags",
                                     "plugins", "created_at", "updated_at"};
    allowed.insert(kCredentialKeys.begin(), kCredentialKeys.end());
    allowed.insert(kUnsupportedCredentialKeys.begin(), kUnsupportedCredentialKeys.end());
    allow_entity_fields(f, allowed);
    Consumer c;
    c.username = f.string_or("username", "");
    c.custom_id = f.string_or("custom_id", "");
    if (c.username.empty() && c.custom_id.empty())
      f.fail("at least one of these fields must be non-empty: 'custom_id', 'username'");
    if (!c.username.empty() && !consumer_usernames_.insert(c.username).second)
      f.child("username")->fail("duplicate username '" + c.username + "'");
    if (!c.custom_id.empty() && !consumer_custom_ids_.insert(c.custom_id).second)
      f.child("custom_id")->fail("duplicate custom_id '" + c.custom_id + "'");
    c.id = entity_id(f, "consumer:" + (c.username.empty() ? "custom_id:" + c.custom_id : c.username));
    c.tags = f.string_list("tags");
    out_.consumers.push_back(c);
    if (!c.username.empty()) consumer_by_ref_[c.username] = c.id;
    consumer_by_ref_[c.id] = c.id;
    for (const auto& key : kCredentialKeys)
      for_each_item(f, key, [&](const Field& cf, size_t) { read_credential(key, cf, c.id, true); });
    for (const auto& key : kUnsupportedCredentialKeys)
      if (auto creds = f.child(key))
        spdlog::warn("{}: '{}' credentials are not supported by gatehouse and are ignored", creds->location(),
                     key);
    for_each_item(f, "plugins", [&](const Field& pf, size_t) { read_plugin(pf, Scope{"", "", c.id}); });
  }

  // --- credentials -----------------------------------------------------------------------------
  // Kong's schemas (plugins/<name>/daos.lua): the fields each may hold, what is required, what
  // is unique. Nested under a consumer they belong to it; top-level they name it in `consumer`.

  void read_top_level_credentials(const Field& top) {
    for (const auto& key : kCredentialKeys)
      for_each_item(top, key, [&](const Field& f, size_t) {
        auto ref = f.child("consumer");
        if (!ref) required_missing(f, "consumer");
        read_credential(key, f, resolve(*ref, consumer_by_ref_, "consumer"), false);
      });
  }

  void read_credential(const std::string& type, const Field& f, const std::string& consumer_id, bool nested) {
    if (auto ref = f.child("consumer");
        ref && nested && resolve(*ref, consumer_by_ref_, "consumer") != consumer_id)
      ref->fail("a credential nested under a consumer cannot name another");
    if (type == "keyauth_credentials") return read_keyauth(f, consumer_id);
    if (type == "basicauth_credentials") return read_basicauth(f, consumer_id);
    if (type == "jwt_secrets") return read_jwt_secret(f, consumer_id);
    read_acl(f, consumer_id);
  }

  [[noreturn]] static void required_missing(const Field& f, const std::string& name) {
    Field{f.file, f.node, f.path + "." + name}.fail("required field missing");
  }

  static std::string required_string(const Field& f, const std::string& name) {
    auto field = f.child(name);
    if (!field) required_missing(f, name);
    std::string value = field->scalar();
    if (value.empty()) field->fail("length must be at least 1");
    return value;
  }

  // Kong's message for a second entity with a unique value.
  [[noreturn]] static void not_unique(const Field& f, const std::string& type, const std::string& name,
                                      const std::string& value) {
    auto field = f.child(name);
    (field ? *field : f)
        .fail("uniqueness violation: '" + type + "' entity with " + name + " set to '" + value +
              "' already declared");
  }

  void read_keyauth(const Field& f, const std::string& consumer_id) {
    allow_entity_fields(f, {"id", "consumer", "key", "ttl", "tags", "created_at"});
    KeyAuthCredential k;
    k.consumer_id = consumer_id;
    k.key = f.child("key") ? required_string(f, "key") : random_token();
    k.ttl = f.int_or("ttl", 0, 0, 100000000);
    if (k.ttl > 0) k.expires_at = static_cast<int64_t>(std::time(nullptr)) + k.ttl;
    k.tags = f.string_list("tags");
    if (out_.credentials.find_key(k.key)) not_unique(f, "keyauth_credentials", "key", k.key);
    k.id = entity_id(f, "keyauth_credential:" + k.key);
    out_.credentials.add(std::move(k));
  }

  void read_basicauth(const Field& f, const std::string& consumer_id) {
    allow_entity_fields(f, {"id", "consumer", "username", "password", "tags", "created_at"});
    BasicAuthCredential b;
    b.consumer_id = consumer_id;
    b.username = required_string(f, "username");
    auto password = f.child("password");
    if (!password) required_missing(f, "password");
    // _transform: false is Kong's export (kong config db_export): passwords already hashed.
    b.password_hash =
        transform_ ? basic_auth_password_hash(consumer_id, password->scalar()) : password->scalar();
    b.tags = f.string_list("tags");
    if (out_.credentials.find_basic(b.username))
      not_unique(f, "basicauth_credentials", "username", b.username);
    b.id = entity_id(f, "basicauth_credential:" + b.username);
    out_.credentials.add(std::move(b));
  }

  void read_jwt_secret(const Field& f, const std::string& consumer_id) {
    allow_entity_fields(
        f, {"id", "consumer", "key", "secret", "algorithm", "rsa_public_key", "tags", "created_at"});
    JwtSecret j;
    j.consumer_id = consumer_id;
    j.key = f.child("key") ? required_string(f, "key") : random_token();
    j.secret = f.child("secret") ? f.child("secret")->scalar() : random_token();
    j.algorithm = f.string_or("algorithm", "HS256");
    if (!is_jwt_algorithm(j.algorithm))
      f.child("algorithm")
          ->fail(
              "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, "
              "ES512, EdDSA");
    if (jwt_algorithm_uses_public_key(j.algorithm)) {
      auto pem = f.child("rsa_public_key");
      if (!pem) required_missing(f, "rsa_public_key");
      j.rsa_public_key = pem->scalar();
      std::string error;
      j.public_key = read_public_key(j.rsa_public_key, error);
      if (!j.public_key) pem->fail("invalid key: " + error);
      if (auto problem = jwt_key_problem(j.algorithm, j.public_key.get()); !problem.empty())
        pem->fail(problem);
    } else {
      j.rsa_public_key = f.string_or("rsa_public_key", "");
    }
    j.tags = f.string_list("tags");
    if (out_.credentials.find_jwt(j.key)) not_unique(f, "jwt_secrets", "key", j.key);
    j.id = entity_id(f, "jwt_secret:" + j.key);
    out_.credentials.add(std::move(j));
  }

  void read_acl(const Field& f, const std::string& consumer_id) {
    allow_entity_fields(f, {"id", "consumer", "group", "tags", "created_at"});
    AclGroup a;
    a.consumer_id = consumer_id;
    a.group = required_string(f, "group");
    a.tags = f.string_list("tags");
    const auto& groups = out_.credentials.groups_of(consumer_id);
    if (std::find(groups.begin(), groups.end(), a.group) != groups.end())
      f.child("group")->fail("uniqueness violation: 'acls' entity with group set to '" + a.group +
                             "' already declared for this consumer");
    a.id = entity_id(f, "acl:" + consumer_id + ":" + a.group);
    out_.credentials.add(std::move(a));
  }

  // --- upstreams and targets -------------------------------------------------------------------

  void read_upstream(const Field& f) {
    allow_entity_fields(f, {"id",
                            "name",
                            "algorithm",
                            "targets",
                            "tags",
                            "slots",
                            "hash_on",
                            "hash_fallback",
                            "hash_on_header",
                            "hash_fallback_header",
                            "hash_on_cookie",
                            "hash_on_cookie_path",
                            "hash_on_query_arg",
                            "hash_fallback_query_arg",
                            "hash_on_uri_capture",
                            "hash_fallback_uri_capture",
                            "healthchecks",
                            "host_header",
                            "client_certificate",
                            "use_srv_name",
                            "created_at",
                            "updated_at"});
    Upstream u;
    auto name = f.child("name");
    if (!name) f.fail("an upstream needs a 'name'");
    u.name = name->scalar();
    check_unique_name(f, upstream_names_, u.name);
    u.id = entity_id(f, "upstream:" + u.name);
    read_upstream_balancing(f, u);  // algorithm, hashing, slots, healthchecks (upstream_fields.cpp)
    u.tags = f.string_list("tags");
    out_.upstreams.push_back(u);
    upstream_by_ref_[u.name] = u.id;
    upstream_by_ref_[u.id] = u.id;
    upstream_index_[u.id] = out_.upstreams.size() - 1;
    for_each_item(f, "targets", [&](const Field& tf, size_t) { add_target(tf, out_.upstreams.back()); });
  }

  void read_top_level_target(const Field& f) {
    auto ref = f.child("upstream");
    if (!ref) f.fail("a top-level target needs 'upstream'");
    std::string id = resolve(*ref, upstream_by_ref_, "upstream");
    add_target(f, out_.upstreams[upstream_index_.at(id)]);
  }

  void add_target(const Field& f, Upstream& u) {
    allow_entity_fields(f, {"id", "target", "weight", "tags", "upstream", "created_at", "updated_at"});
    Target t;
    auto target = f.child("target");
    if (!target) f.fail("a target needs 'target' (host:port)");
    t.target = target->scalar();
    bool bracketed = t.target.starts_with("[");
    auto colon = t.target.rfind(':');
    bool has_port = bracketed ? t.target.find("]:") != std::string::npos
                              : colon != std::string::npos && t.target.find(':') == colon;
    if (!bracketed && colon != std::string::npos && t.target.find(':') != colon)  // bare IPv6
      t.target = "[" + t.target + "]", has_port = false;
    if (has_port) {
      auto port = parse_int_text(t.target.substr(t.target.rfind(':') + 1));
      if (!port || *port < 1 || *port > 65535) target->fail("invalid port in target '" + t.target + "'");
    } else {
      t.target += ":8000";  // Kong's default target port
    }
    t.weight = f.int_or("weight", 100, 0, 65535);
    t.tags = f.string_list("tags");
    u.targets.push_back(t);
    read_created_at(f, target_id(u, u.targets.size() - 1), false);
  }

  // --- certificates and SNIs -------------------------------------------------------------------

  void read_certificate(const Field& f) {
    allow_entity_fields(
        f, {"id", "cert", "key", "cert_alt", "key_alt", "snis", "tags", "created_at", "updated_at"});
    Certificate c;
    for (auto [key, target] : {std::pair{"cert", &c.cert}, std::pair{"key", &c.key}}) {
      auto field = f.child(key);
      if (!field) f.fail(std::string("a certificate needs '") + key + "'");
      *target = field->scalar();
      if (target->find("-----BEGIN") == std::string::npos) field->fail("expected a PEM block");
    }
    auto cert_alt = f.child("cert_alt");
    auto key_alt = f.child("key_alt");
    if (cert_alt.has_value() != key_alt.has_value()) f.fail("'cert_alt' and 'key_alt' must be set together");
    if (cert_alt) c.cert_alt = cert_alt->scalar(), c.key_alt = key_alt->scalar();
    c.id = entity_id(f, "certificate:" + c.cert);
    c.tags = f.string_list("tags");
    out_.certificates.push_back(c);
    certificate_by_ref_[c.id] = c.id;
    certificate_index_[c.id] = out_.certificates.size() - 1;
    if (auto snis = f.child("snis")) {
      if (!snis->node.IsSequence()) snis->fail("expected a list");
      for (size_t i = 0; i < snis->node.size(); ++i) {
        Field item = snis->item(i);
        add_sni(item, item.node.IsMap() ? item.string_or("name", "") : item.scalar(),
                out_.certificates.back());
      }
    }
    check_pem(f, "cert", "key");
    if (cert_alt) check_pem(f, "cert_alt", "key_alt");
  }

  // The TLS layer trusts what passed here: certificates that load and the keys that sign for them.
  void check_pem(const Field& f, const char* cert_name, const char* key_name) {
    Field cert = *f.child(cert_name);
    Field key = *f.child(key_name);
    if (auto error = check_certificates(cert.scalar()); !error.empty()) cert.fail(error);
    if (auto error = check_private_key(key.scalar()); !error.empty()) key.fail(error);
    if (auto error = check_key_matches(cert.scalar(), key.scalar()); !error.empty()) key.fail(error);
  }

  void read_top_level_sni(const Field& f) {
    allow_entity_fields(f, {"id", "name", "certificate", "tags", "created_at", "updated_at"});
    auto cert_ref = f.child("certificate");
    if (!cert_ref) f.fail("an SNI needs 'certificate'");
    std::string id = resolve(*cert_ref, certificate_by_ref_, "certificate");
    add_sni(f, f.string_or("name", ""), out_.certificates[certificate_index_.at(id)]);
  }

  void add_sni(const Field& f, const std::string& raw_name, Certificate& c) {
    std::string name = to_lower(raw_name);
    if (name.empty()) f.fail("an SNI needs a 'name'");
    if (auto error = sni_name_problem(name); !error.empty()) f.fail("invalid SNI '" + name + "': " + error);
    if (!sni_names_.insert(name).second) f.fail("duplicate SNI '" + name + "'");
    c.snis.push_back(name);
  }

  void read_ca_certificate(const Field& f) {
    allow_entity_fields(f, {"id", "cert", "cert_digest", "tags", "created_at", "updated_at"});
    auto cert = f.child("cert");
    if (!cert) f.fail("a CA certificate needs 'cert'");
    CaCertificate ca;
    ca.cert = cert->scalar();
    if (auto error = check_certificates(ca.cert); !error.empty()) cert->fail(error);
    ca.id = entity_id(f, "ca_certificate:" + ca.cert);
    ca.tags = f.string_list("tags");
    out_.ca_certificates.push_back(ca);
  }

  // A service's client_certificate and ca_certificates name entities that may come later in the
  // file: resolved once everything is read.
  struct PendingServiceTls {
    size_t service_index;
    std::optional<Field> client_certificate, ca_certificates;
  };

  void resolve_service_tls() {
    std::map<std::string, std::string> ca_by_id;
    for (const auto& ca : out_.ca_certificates) ca_by_id[ca.id] = ca.id;
    for (const auto& pending : pending_service_tls_) {
      Service& s = out_.services[pending.service_index];
      if (pending.client_certificate)
        s.client_certificate_id = resolve(*pending.client_certificate, certificate_by_ref_, "certificate");
      if (!pending.ca_certificates) continue;
      if (!pending.ca_certificates->node.IsSequence()) pending.ca_certificates->fail("expected a list");
      for (size_t i = 0; i < pending.ca_certificates->node.size(); ++i)
        s.ca_certificate_ids.push_back(resolve(pending.ca_certificates->item(i), ca_by_id, "CA certificate"));
    }
  }

  // --- plugins ---------------------------------------------------------------------------------

  struct Scope {
    std::string service_id, route_id, consumer_id;
  };

  void read_plugin(const Field& f, const Scope& parent) {
    allow_entity_fields(f, {"id", "name", "config", "enabled", "protocols", "tags", "service", "route",
                            "consumer", "instance_name", "ordering", "created_at", "updated_at"});
    PendingPlugin pending{Plugin{}, f, f.child("service"), f.child("route"), f.child("consumer")};
    Plugin& p = pending.plugin;
    auto name = f.child("name");
    if (!name) f.fail("a plugin needs a 'name'");
    p.name = name->scalar();
    p.service_id = parent.service_id;
    p.route_id = parent.route_id;
    p.consumer_id = parent.consumer_id;
    // A nested plugin cannot re-scope itself to the entity it is nested under.
    if ((!parent.service_id.empty() && pending.service_ref) ||
        (!parent.route_id.empty() && pending.route_ref) ||
        (!parent.consumer_id.empty() && pending.consumer_ref))
      f.fail("a nested plugin cannot reference the entity it is nested under");
    if (auto config = f.child("config")) {
      if (!config->node.IsMap() && !config->node.IsNull()) config->fail("expected a mapping");
      if (config->node.IsMap()) p.config = yaml_to_json(*config);
    }
    p.enabled = f.bool_or("enabled", true);
    if (auto protocols = f.child("protocols")) {
      p.protocols = f.string_list("protocols");
      for (size_t i = 0; i < p.protocols.size(); ++i)
        if (!kRouteProtocols.count(p.protocols[i])) protocols->item(i).fail(expected_one_of(kRouteProtocols));
    }
    p.tags = f.string_list("tags");
    pending_plugins_.push_back(std::move(pending));
  }

  void resolve_plugins() {
    std::set<std::string> scopes_seen;
    for (auto& pending : pending_plugins_) {
      Plugin& p = pending.plugin;
      if (pending.service_ref) p.service_id = resolve(*pending.service_ref, service_by_ref_, "service");
      if (pending.route_ref) p.route_id = resolve(*pending.route_ref, route_by_ref_, "route");
      if (pending.consumer_ref) p.consumer_id = resolve(*pending.consumer_ref, consumer_by_ref_, "consumer");
      std::string scope = p.name + "|" + p.service_id + "|" + p.route_id + "|" + p.consumer_id;
      if (!scopes_seen.insert(scope).second)
        pending.where.fail("duplicate plugin '" + p.name + "' for the same service/route/consumer scope");
      p.id = entity_id(pending.where, "plugin:" + scope);
      out_.plugins.push_back(p);
    }
  }

  // A reference is a name or an id, or a mapping {id: ...} / {name: ...} as Kong exports.
  std::string resolve(const Field& ref, const std::map<std::string, std::string>& by_ref,
                      const std::string& what) {
    std::string key;
    if (ref.node.IsMap()) {
      key = ref.string_or("id", "");
      if (key.empty()) key = ref.string_or("name", "");
    } else {
      key = ref.scalar();
    }
    auto it = by_ref.find(key);
    if (it == by_ref.end()) ref.fail("references unknown " + what + " '" + key + "'");
    return it->second;
  }

  std::string file_;
  Declarative out_;
  bool legacy_paths_ = false;
  bool transform_ = true;  // Kong's _transform: hash basic-auth passwords as they load
  std::set<std::string> ids_, service_names_, route_names_, upstream_names_, sni_names_;
  std::vector<PendingServiceTls> pending_service_tls_;
  std::set<std::string> consumer_usernames_, consumer_custom_ids_;
  std::map<std::string, std::string> service_by_ref_, route_by_ref_, consumer_by_ref_, upstream_by_ref_,
      certificate_by_ref_;
  std::map<std::string, size_t> upstream_index_, certificate_index_;  // id → index in out_
  std::vector<PendingPlugin> pending_plugins_;
  static constexpr size_t kMaxErrors = 100;
  static constexpr double kMaxTimestamp = 4102444800;  // 2100-01-01: a bound, not a calendar rule
  std::vector<std::string> errors_;                    // what collect() kept
};

}  // namespace

Declarative parse_declarative(const std::string& yaml_text, const std::string& file_name_for_errors) {
  YAML::Node root;
  try {
    check_yaml_bounds(yaml_text, file_name_for_errors);  // before a node exists: see yaml_guard.h
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(file_name_for_errors + ":" + std::to_string(e.mark.line + 1) +
                      ": invalid YAML: " + e.msg);
  }
  return Loader(file_name_for_errors).load(root);
}

std::string read_declarative_file(const std::string& path) {
  const size_t limit = YamlLimits{}.max_bytes;
  FileText file = read_file_at_most(path, limit);
  if (file.status == FileText::Status::cannot_open)
    throw ConfigError(path + ": cannot open declarative configuration");
  if (file.status == FileText::Status::too_large)
    throw ConfigError(path + ": larger than the " + std::to_string(limit) +
                      " bytes gatehouse accepts for a declarative configuration");
  return std::move(file.text);
}

Declarative load_declarative(const std::string& path) {
  return parse_declarative(read_declarative_file(path), path);
}

DeclarativeSource declarative_source(const Properties& properties) {
  if (!properties.declarative_config_string.empty())
    return {properties.declarative_config_string, "declarative_config_string"};
  if (!properties.declarative_config.empty())
    return {read_declarative_file(properties.declarative_config), properties.declarative_config};
  return {};
}

Configuration load_configuration(const std::string& conf_path,
                                 const std::map<std::string, std::string>& env) {
  Configuration out;
  out.properties = load_properties(conf_path, env);
  if (auto source = declarative_source(out.properties); !source.name.empty())
    out.declarative = parse_declarative(source.text, source.name);
  else
    out.declarative.format_version = "3.0";
  return out;
}

}  // namespace gh::conf
