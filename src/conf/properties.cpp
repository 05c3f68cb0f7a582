#include "conf/properties.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "common/strings.h"
#include "conf/error.h"
#include "conf/tls_properties.h"

extern char** environ;

namespace gh::conf {

namespace {

namespace fs = std::filesystem;

// Every key gatehouse understands, with its default (the raw property string, as in kong.conf).
// "" means "unset". Values follow Kong 3.x's kong_defaults.lua where Kong has the key.
const std::map<std::string, std::string>& default_values() {
  static const std::map<std::string, std::string> defaults = {
      {"prefix", ""},  // computed: see default_prefix()
      {"proxy_listen",
       "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384"},
      {"admin_listen",
       "127.0.0.1:8001 reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384"},
      {"stream_listen", "off"},
      {"declarative_config", ""},
      // The declarative configuration itself (JSON or YAML text), as Kong: wins over declarative_config.
      {"declarative_config_string", ""},
      {"database", "off"},  // Kong's default is postgres; gatehouse only runs without a database
      // Kong's default is on (kong start returns once nginx runs); gatehouse start stays in the
      // foreground unless asked, as in Kong's container images (docs/cli.md).
      {"nginx_daemon", "off"},
      {"status_listen", "off"},
      {"node_id", ""},  // kong.node.get_id; unset: one random UUID per process
      {"plugins", "bundled"},
      {"log_level", "notice"},
      {"proxy_access_log", "logs/access.log"},
      {"proxy_access_log_format", "combined"},
      {"proxy_stream_access_log", "logs/access.log basic"},
      {"proxy_error_log", "logs/error.log"},
      {"admin_access_log", "logs/admin_access.log"},
      {"admin_error_log", "logs/error.log"},
      {"nginx_worker_processes", "auto"},
      {"real_ip_header", "X-Real-IP"},
      {"real_ip_recursive", "off"},
      {"trusted_ips", ""},
      {"client_max_body_size", "0"},
      {"client_body_buffer_size", "8k"},
      {"buffered_response_max_size", "64m"},
      {"headers", "server_tokens, latency_tokens, X-Kong-Request-Id"},
      {"upstream_keepalive_pool_size", "512"},
      {"upstream_keepalive_max_requests", "10000"},
      {"upstream_keepalive_idle_timeout", "60"},
      {"pluginserver_names", ""},
      {"go_plugins_dir", "off"},
      {"go_pluginserver_exe", "/usr/local/bin/go-pluginserver"},
      {"ssl_cert", ""},
      {"ssl_cert_key", ""},
      {"admin_ssl_cert", ""},
      {"admin_ssl_cert_key", ""},
      {"ssl_cipher_suite", "intermediate"},
      {"ssl_ciphers", ""},
      {"ssl_protocols", "TLSv1.2 TLSv1.3"},
      {"ssl_prefer_server_ciphers", "on"},
      {"ssl_session_tickets", "on"},
      {"ssl_session_timeout", "1d"},
  };
  return defaults;
}

// Kong keys a kong.conf commonly carries that gatehouse accepts without acting on them
// (no warning: a Kong user's file should load cleanly).
const std::set<std::string>& accepted_kong_keys() {
  static const std::set<std::string> keys = {"anonymous_reports",
                                             "router_flavor",
                                             "admin_gui_listen",
                                             "admin_gui_url",
                                             "lua_package_path",
                                             "lua_package_cpath",
                                             "lua_ssl_trusted_certificate",
                                             "lua_ssl_verify_depth",
                                             "mem_cache_size",
                                             "dns_resolver",
                                             "dns_order",
                                             "dns_hostsfile",
                                             "client_ssl",
                                             "ssl_session_cache_size",
                                             "ssl_dhparam",
                                             "proxy_stream_error_log",
                                             "status_access_log",
                                             "status_error_log",
                                             "admin_gui_access_log",
                                             "admin_gui_error_log",
                                             "upstream_keepalive",
                                             "role",
                                             "cluster_listen",
                                             "vaults",
                                             "tracing_instrumentations",
                                             "tracing_sampling_rate",
                                             "untrusted_lua",
                                             "worker_consistency",
                                             "db_update_frequency",
                                             "error_default_type",
                                             "allow_debug_header",
                                             "headers_upstream",
                                             "kic",
                                             "pg_host",
                                             "pg_port",
                                             "pg_user",
                                             "pg_password",
                                             "pg_database",
                                             "lmdb_environment_path",
                                             "lmdb_map_size",
                                             "host_ports",
                                             "port_maps",
                                             "log_level_file"};
  return keys;
}

// Families of keys whose members are not known in advance (Kong's "dynamic namespaces").
bool in_dynamic_namespace(std::string_view key) {
  return key.starts_with("pluginserver_") || key.starts_with("nginx_") || key.starts_with("lua_");
}

bool is_known_key(const std::string& key) {
  return default_values().count(key) || accepted_kong_keys().count(key) || in_dynamic_namespace(key);
}

// Kong's nginx_<block>_<directive> injection for client timeouts, e.g. nginx_admin_send_timeout
// (0 is refused: a connection without a timeout is what these exist to prevent).
void fill_client_timeouts(ClientTimeouts& timeouts, std::string_view block,
                          const std::map<std::string, std::string>& values,
                          const std::function<std::string(const std::string&)>& where) {
  for (auto [directive, target] :
       {std::pair{"client_header_timeout", &timeouts.client_header},
        std::pair{"keepalive_timeout", &timeouts.keepalive},
        std::pair{"client_body_timeout", &timeouts.client_body}, std::pair{"send_timeout", &timeouts.send}}) {
    const std::string key = "nginx_" + std::string(block) + "_" + directive;
    auto it = values.find(key);
    if (it == values.end()) continue;
    *target = parse_seconds(it->second, where(key));
    if (*target == 0) throw ConfigError(where(key) + ": must be at least 1s");
  }
}

// The default prefix must be writable by the user running gatehouse (Kong's /usr/local/kong is not,
// for an unprivileged user).
std::string default_prefix() {
  if (::geteuid() == 0) return "/usr/local/gatehouse";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.gatehouse";
  return "/tmp/gatehouse-" + std::to_string(::geteuid());
}

// Where a property came from, for error messages.
struct Origin {
  std::string file;  // "" for defaults, "environment" for KONG_*
  int line = 0;
};

std::string describe(const Origin& origin, const std::string& key) {
  if (origin.file.empty()) return "default " + key;
  if (origin.line == 0) return origin.file + ": " + key;
  return origin.file + ":" + std::to_string(origin.line) + ": " + key;
}

// Removes a `#` comment (`\#` is a literal '#', as in Kong).
std::string strip_comment(std::string_view line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '#') {
      out += '#';
      ++i;
    } else if (line[i] == '#') {
      break;
    } else {
      out += line[i];
    }
  }
  return out;
}

// The `key = value` lines of the file `path` holds, read from `in`.
void read_values(std::istream& in, const std::string& path, std::map<std::string, std::string>& values,
                 std::map<std::string, Origin>& origins) {
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string line = strip_comment(raw);
    auto text = trim(line);
    if (text.empty()) continue;
    auto eq = text.find('=');
    if (eq == std::string_view::npos)
      throw ConfigError(path + ":" + std::to_string(line_no) + ": expected 'key = value', got '" +
                        std::string(text) + "'");
    std::string key = to_lower(trim(text.substr(0, eq)));
    if (key.empty()) throw ConfigError(path + ":" + std::to_string(line_no) + ": missing key before '='");
    if (!is_known_key(key))
      spdlog::warn("{}:{}: unknown property '{}' (kept, but gatehouse does not use it)", path, line_no, key);
    values[key] = std::string(trim(text.substr(eq + 1)));
    origins[key] = Origin{path, line_no};
  }
}

// Kong reads KONG_<KEY> for every known key and dynamic namespace; other KONG_* variables
// (KONG_VERSION and the like) are not configuration and are ignored.
void apply_environment(const std::map<std::string, std::string>& env,
                       std::map<std::string, std::string>& values, std::map<std::string, Origin>& origins) {
  for (const auto& [name, value] : env) {
    if (!name.starts_with("KONG_")) continue;
    std::string key = to_lower(std::string_view(name).substr(5));
    if (!is_known_key(key)) {
      spdlog::debug("ignoring environment variable {}: not a configuration property", name);
      continue;
    }
    values[key] = std::string(trim(value));
    origins[key] = Origin{"environment (" + name + ")", 0};
  }
}

int parse_int(std::string_view text, const std::string& where, int min_value, int max_value) {
  int out = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
    throw ConfigError(where + ": expected an integer, got '" + std::string(text) + "'");
  if (out < min_value || out > max_value)
    throw ConfigError(where + ": must be between " + std::to_string(min_value) + " and " +
                      std::to_string(max_value));
  return out;
}

std::vector<ListenAddress> parse_listen_list(std::string_view text, const std::string& where) {
  std::vector<ListenAddress> out;
  if (iequals(trim(text), "off")) return out;
  for (const auto& entry : split_list(text)) {
    try {
      out.push_back(ListenAddress::parse(entry));
    } catch (const ConfigError& e) {
      throw ConfigError(where + ": " + e.what());
    }
  }
  return out;
}

// Kong accepts /dev/stdout and /dev/stderr; relative paths are relative to the prefix.
std::string resolve_log_target(std::string_view raw, const std::string& prefix) {
  // Kong allows "path format_name" for access logs: the path is the first word.
  std::string first(trim(raw).substr(0, trim(raw).find_first_of(" \t")));
  if (first.empty() || iequals(first, "off")) return "off";
  if (first == "/dev/stdout" || first == "stdout") return "stdout";
  if (first == "/dev/stderr" || first == "stderr") return "stderr";
  if (fs::path(first).is_absolute()) return first;
  return (fs::path(prefix) / first).lexically_normal().string();
}

// `proxy_stream_access_log = <path> [format]`: only Kong's `basic` stream format exists here.
void check_stream_log_format(std::string_view raw, const std::string& where) {
  auto text = trim(raw);
  auto space = text.find_first_of(" \t");
  if (space == std::string_view::npos) return;
  auto format = trim(text.substr(space));
  if (!format.empty() && format != "basic")
    throw ConfigError(where + ": unknown log format '" + std::string(format) + "' (expected 'basic')");
}

// Paths written in the configuration file are relative to its directory; paths from the
// environment or defaults to the working directory.
std::string resolve_path(const std::string& raw, const Origin& origin, const std::string& conf_file) {
  fs::path p(raw);
  if (p.is_absolute()) return p.lexically_normal().string();
  fs::path base = (!conf_file.empty() && origin.file == conf_file) ? fs::absolute(conf_file).parent_path()
                                                                   : fs::current_path();
  return (base / p).lexically_normal().string();
}

const std::set<std::string>& allowed_headers() {
  static const std::set<std::string> names = {"server_tokens",
                                              "latency_tokens",
                                              "x-kong-upstream-latency",
                                              "x-kong-response-latency",
                                              "x-kong-proxy-latency",
                                              "x-kong-upstream-status",
                                              "x-kong-admin-latency",
                                              "x-kong-request-id",
                                              "x-kong-total-latency",
                                              "via",
                                              "server"};
  return names;
}

// Kong settings gatehouse accepts in a kong.conf but cannot act on. A value that would change what
// Kong does is refused when ignoring it would be unsafe or surprising (hybrid mode, the expressions
// router) and warned about otherwise; Kong's defaults and harmless values pass quietly.
struct NotHonoured {
  const char* key;
  std::set<std::string> harmless;  // lower-case values that need no word ("" = unset)
  bool refuse;
  const char* why;
};

const std::vector<NotHonoured>& settings_not_honoured() {
  static const std::vector<NotHonoured> table = {
      {"role", {"", "traditional"}, true, "gatehouse has no hybrid mode (control_plane / data_plane)"},
      {"router_flavor",
       {"", "traditional", "traditional_compatible"},
       true,
       "gatehouse routes like Kong's traditional router and has no expressions router"},
      {"admin_gui_listen", {"", "off"}, false, "gatehouse serves no Kong Manager GUI"},
      {"dns_resolver", {""}, false, "gatehouse resolves names with the system resolver (/etc/resolv.conf)"},
      {"dns_hostsfile", {"", "/etc/hosts"}, false, "gatehouse resolves names with the system resolver"},
      {"dns_order", {""}, false, "gatehouse resolves names with the system resolver"},
      {"tracing_instrumentations", {"", "off"}, false, "gatehouse has no tracing instrumentations"},
      {"vaults", {"", "bundled", "off"}, false, "gatehouse does not resolve {vault://...} references"},
      {"lua_ssl_trusted_certificate",
       {"", "system"},
       false,
       "gatehouse verifies upstreams with the system store or a service's ca_certificates"},
      {"client_ssl", {"", "off"}, false, "use a service's client_certificate instead"},
      {"allow_debug_header", {"", "off"}, false, "gatehouse has no Kong-Debug header"},
      {"untrusted_lua", {"", "sandbox", "off", "on"}, false, "gatehouse runs no Lua"},
  };
  return table;
}

void check_settings_not_honoured(const std::map<std::string, std::string>& values,
                                 const std::function<std::string(const std::string&)>& where) {
  for (const auto& setting : settings_not_honoured()) {
    auto it = values.find(setting.key);
    if (it == values.end() || setting.harmless.count(to_lower(trim(it->second)))) continue;
    std::string message = where(setting.key) + " = " + it->second + ": " + setting.why;
    if (setting.refuse) throw ConfigError(message);
    spdlog::warn("{} (the setting has no effect)", message);
  }
}

void fill_typed(Properties& p, const std::map<std::string, Origin>& origins) {
  auto where = [&](const std::string& key) {
    auto it = origins.find(key);
    return describe(it == origins.end() ? Origin{} : it->second, key);
  };
  auto origin_of = [&](const std::string& key) {
    auto it = origins.find(key);
    return it == origins.end() ? Origin{} : it->second;
  };
  auto raw = [&](const std::string& key) { return p.get(key).value_or(""); };

  p.prefix = raw("prefix").empty() ? default_prefix()
                                   : resolve_path(raw("prefix"), origin_of("prefix"), p.source_file);
  p.proxy_listen = parse_listen_list(raw("proxy_listen"), where("proxy_listen"));
  p.admin_listen = parse_listen_list(raw("admin_listen"), where("admin_listen"));
  p.stream_listen = parse_listen_list(raw("stream_listen"), where("stream_listen"));
  p.status_listen = parse_listen_list(raw("status_listen"), where("status_listen"));

  if (!iequals(raw("database"), "off"))
    throw ConfigError(where("database") + ": gatehouse runs without a database only (database = off), got '" +
                      raw("database") + "': declare the entities in a kong.yml (declarative_config)");
  auto daemon = parse_bool(raw("nginx_daemon"));
  if (!daemon) throw ConfigError(where("nginx_daemon") + ": expected on or off");
  p.daemon = *daemon;
  p.declarative_config_string = raw("declarative_config_string");
  check_settings_not_honoured(p.values, where);

  auto declarative = raw("declarative_config");
  p.declarative_config = declarative.empty() || iequals(declarative, "off")
                             ? ""
                             : resolve_path(declarative, origin_of("declarative_config"), p.source_file);

  p.plugins = split_list(raw("plugins"));
  if (p.plugins.size() == 1 && iequals(p.plugins[0], "off")) p.plugins.clear();

  p.log_level = to_lower(raw("log_level"));
  if (gh::log::parse_level(p.log_level) == spdlog::level::n_levels)
    throw ConfigError(where("log_level") + ": unknown level '" + p.log_level +
                      "' (expected debug, info, notice, warn, error, crit, alert or emerg)");

  p.proxy_access_log = resolve_log_target(raw("proxy_access_log"), p.prefix);
  p.proxy_error_log = resolve_log_target(raw("proxy_error_log"), p.prefix);
  p.admin_access_log = resolve_log_target(raw("admin_access_log"), p.prefix);
  p.admin_error_log = resolve_log_target(raw("admin_error_log"), p.prefix);
  p.proxy_stream_access_log = resolve_log_target(raw("proxy_stream_access_log"), p.prefix);
  check_stream_log_format(raw("proxy_stream_access_log"), where("proxy_stream_access_log"));
  p.access_log_format = to_lower(raw("proxy_access_log_format"));
  if (p.access_log_format != "combined" && p.access_log_format != "json")
    throw ConfigError(where("proxy_access_log_format") + ": expected 'combined' or 'json', got '" +
                      p.access_log_format + "'");

  auto workers = raw("nginx_worker_processes");
  if (iequals(workers, "auto"))
    p.worker_threads = std::max(1u, std::thread::hardware_concurrency());
  else
    p.worker_threads = parse_int(workers, where("nginx_worker_processes"), 1, 1024);

  p.real_ip_header = raw("real_ip_header");
  auto recursive = parse_bool(raw("real_ip_recursive"));
  if (!recursive) throw ConfigError(where("real_ip_recursive") + ": expected on or off");
  p.real_ip_recursive = *recursive;
  p.trusted_ips.clear();
  for (const auto& entry : split_list(raw("trusted_ips"))) {
    if (entry == "unix:") continue;  // Kong's marker for Unix-socket peers: they are always local
    try {
      p.trusted_ips.push_back(Cidr::parse(entry));
    } catch (const ConfigError& e) {
      throw ConfigError(where("trusted_ips") + ": " + e.what());
    }
  }

  auto body_size = [&](const std::string& key) {
    auto size = parse_size(raw(key));
    if (!size)
      throw ConfigError(where(key) + ": invalid size '" + raw(key) + "' (expected e.g. 0, 512, 8k, 10m)");
    return *size;
  };
  p.client_max_body_size = body_size("client_max_body_size");
  p.client_body_buffer_size = body_size("client_body_buffer_size");
  p.buffered_response_max_size = body_size("buffered_response_max_size");

  p.headers.clear();
  for (const auto& h : split_list(raw("headers"))) {
    auto name = to_lower(h);
    if (name == "off") continue;
    if (!allowed_headers().count(name)) throw ConfigError(where("headers") + ": invalid entry '" + h + "'");
    p.headers.push_back(name);
  }

  p.upstream_keepalive_pool_size =
      parse_int(raw("upstream_keepalive_pool_size"), where("upstream_keepalive_pool_size"), 0, 1 << 20);
  p.upstream_keepalive_max_requests =
      parse_int(raw("upstream_keepalive_max_requests"), where("upstream_keepalive_max_requests"), 0, 1 << 30);
  p.upstream_keepalive_idle_timeout =
      parse_int(raw("upstream_keepalive_idle_timeout"), where("upstream_keepalive_idle_timeout"), 0, 1 << 30);

  fill_client_timeouts(p.admin_timeouts, "admin", p.values, where);
  fill_client_timeouts(p.proxy_timeouts, "http", p.values, where);
  fill_client_timeouts(p.proxy_timeouts, "proxy", p.values, where);

  fill_tls_settings(p, raw, where, [&](const std::string& key, const std::string& path) {
    return resolve_path(path, origin_of(key), p.source_file);
  });
}

}  // namespace

std::optional<bool> parse_bool(std::string_view text) {
  auto t = to_lower(trim(text));
  if (t == "on" || t == "true" || t == "yes" || t == "1") return true;
  if (t == "off" || t == "false" || t == "no" || t == "0") return false;
  return std::nullopt;
}

std::optional<size_t> parse_size(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  size_t multiplier = 1;
  switch (text.back()) {
    case 'k':
    case 'K':
      multiplier = 1024;
      break;
    case 'm':
    case 'M':
      multiplier = 1024 * 1024;
      break;
    case 'g':
    case 'G':
      multiplier = 1024 * 1024 * 1024;
      break;
    default:
      break;
  }
  if (multiplier != 1) text.remove_suffix(1);
  size_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  if (number > SIZE_MAX / multiplier) return std::nullopt;
  return number * multiplier;
}

long parse_seconds(std::string_view text, const std::string& where) {
  text = trim(text);
  long unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        unit = 0;
        break;
    }
    if (unit != 0)
      text.remove_suffix(1);
    else
      unit = 1;
  }
  long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 0)
    throw ConfigError(where + ": expected a duration such as 3600, 10m or 1d");
  return value * unit;
}

std::optional<std::string> Properties::get(std::string_view key) const {
  auto it = values.find(std::string(key));
  if (it == values.end()) return std::nullopt;
  return it->second;
}

namespace {

Properties load_from(std::istream* file, const std::string& path,
                     const std::map<std::string, std::string>& env) {
  Properties p;
  p.source_file = path;
  std::map<std::string, Origin> origins;
  p.values = default_values();
  if (file) read_values(*file, path, p.values, origins);
  apply_environment(env, p.values, origins);
  fill_typed(p, origins);
  return p;
}

}  // namespace

Properties load_properties(const std::string& path, const std::map<std::string, std::string>& env) {
  if (path.empty()) return load_from(nullptr, path, env);
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open configuration file");
  return load_from(&in, path, env);
}

Properties parse_properties(std::string_view text, const std::string& path,
                            const std::map<std::string, std::string>& env) {
  std::istringstream in{std::string(text)};
  return load_from(&in, path, env);
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

}  // namespace gh::conf
