#include "admin/api.h"

#include <unistd.h>

#include <algorithm>
#include <boost/beast/core/detail/base64.hpp>
#include <charconv>
#include <set>

#include "admin/config_body.h"
#include "admin/config_errors.h"
#include "admin/entity_json.h"
#include "admin/metrics_endpoint.h"
#include "admin/proxy_cache_routes.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/version.h"
#include "conf/declarative.h"
#include "metrics/metrics.h"
#include "pdk/request_pdk.h"
#include "pdk/shapes.h"
#include "plugins/native.h"

namespace gh::admin {

using nlohmann::json;

namespace {

// Kong's error codes (kong/db/errors.lua) used here.
constexpr int kInvalidOffset = 7;
constexpr int kInvalidSize = 9;
constexpr int kInvalidOptions = 11;
constexpr int kOperationUnsupported = 12;

constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;

ApiResponse not_found() {
  return {404, {{"message", "Not found"}}};
}
ApiResponse method_not_allowed() {
  return {405, {{"message", "Method not allowed"}}};
}

ApiResponse kong_error(int status, int code, const std::string& name, const std::string& message) {
  return {status, {{"code", code}, {"name", name}, {"message", message}}};
}

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::vector<std::string_view> segments_of(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// --- pagination (Kong's size / offset / tags) -------------------------------------------------------

// A `tags` filter: "a,b" needs every tag, "a/b" any of them (Kong allows one kind per query).
struct TagFilter {
  std::vector<std::string> tags;
  bool any = false;
  bool matches(const json& item) const {
    if (tags.empty()) return true;
    const auto it = item.find("tags");
    if (it == item.end() || !it->is_array()) return false;
    auto has = [&](const std::string& tag) { return std::find(it->begin(), it->end(), tag) != it->end(); };
    return any ? std::any_of(tags.begin(), tags.end(), has) : std::all_of(tags.begin(), tags.end(), has);
  }
};

std::optional<TagFilter> parse_tags(const std::string& text) {
  TagFilter filter;
  const bool has_and = text.find(',') != std::string::npos;
  filter.any = text.find('/') != std::string::npos;
  if (has_and && filter.any) return std::nullopt;
  filter.tags = split_list(text, filter.any ? '/' : ',');
  if (filter.tags.empty() || filter.tags.size() > 5) return std::nullopt;
  return filter;
}

std::string encode_offset(size_t index) {
  std::string plain = std::to_string(index);
  std::string out(boost::beast::detail::base64::encoded_size(plain.size()), '\0');
  out.resize(boost::beast::detail::base64::encode(out.data(), plain.data(), plain.size()));
  return out;
}

std::optional<size_t> decode_offset(const std::string& token) {
  std::string plain(boost::beast::detail::base64::decoded_size(token.size()), '\0');
  auto [written, read] = boost::beast::detail::base64::decode(plain.data(), token.data(), token.size());
  std::string_view unpadded(token);
  while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
  if (read != unpadded.size() || token.size() - unpadded.size() > 2 || written == 0) return std::nullopt;
  plain.resize(written);
  size_t index = 0;
  auto [ptr, ec] = std::from_chars(plain.data(), plain.data() + plain.size(), index);
  if (ec != std::errc() || ptr != plain.data() + plain.size()) return std::nullopt;
  return index;
}

std::string query_escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// One page of `items` as Kong answers a list: {data, next, offset}.
ApiResponse page(const ApiRequest& request, std::vector<json> items) {
  size_t size = kDefaultPageSize;
  if (auto it = request.query.find("size"); it != request.query.end()) {
    const auto& text = it->second;
    long long value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size())
      return kong_error(400, kInvalidSize, "invalid size", "size must be a number");
    if (value < 1 || value > static_cast<long long>(kMaxPageSize))
      return kong_error(400, kInvalidSize, "invalid size", "size must be an integer between 1 and 1000");
    size = static_cast<size_t>(value);
  }
  size_t start = 0;
  if (auto it = request.query.find("offset"); it != request.query.end()) {
    auto index = decode_offset(it->second);
    if (!index)
      return kong_error(400, kInvalidOffset, "invalid offset",
                        "'" + it->second + "' is not a valid offset: bad base64 encoding");
    start = *index;
  }
  std::string tags_query;
  if (auto it = request.query.find("tags"); it != request.query.end()) {
    auto filter = parse_tags(it->second);
    if (!filter)
      return kong_error(400, kInvalidOptions, "invalid options",
                        "invalid option (tags: invalid filter syntax)");
    std::erase_if(items, [&](const json& item) { return !filter->matches(item); });
    tags_query = "&tags=" + query_escape(it->second);
  }
  json data = json::array();
  for (size_t i = start; i < items.size() && i < start + size; ++i) data.push_back(std::move(items[i]));
  json body = {{"data", std::move(data)}, {"next", nullptr}};
  if (start + size < items.size()) {
    auto offset = encode_offset(start + size);
    body["offset"] = offset;
    std::string next = request.path + "?offset=" + query_escape(offset) + tags_query;
    if (request.query.count("size")) next += "&size=" + std::to_string(size);
    body["next"] = next;
  }
  return {200, std::move(body)};
}

// --- entity lookups --------------------------------------------------------------------------------

// By id, or by the endpoint's unique name field, as Kong's /{entity}/{id|name}.
template <typename T, typename Name>
const T* find_entity(const std::vector<T>& items, std::string_view key, Name name_of) {
  const bool by_id = conf::is_uuid(key);
  for (const auto& item : items)
    if (by_id ? item.id == key : name_of(item) == key) return &item;
  return nullptr;
}

const conf::Consumer* find_consumer(const conf::Declarative& config, std::string_view key) {
  if (auto* c = find_entity(config.consumers, key, [](const conf::Consumer& c) { return c.username; }))
    return c;
  return find_entity(config.consumers, key, [](const conf::Consumer& c) { return c.custom_id; });
}

template <typename T, typename Render>
std::vector<json> render_all(const conf::Declarative& config, const std::vector<T>& items, Render render) {
  std::vector<json> out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(render(config, item));
  return out;
}

std::vector<json> plugins_where(const conf::Declarative& config, const std::string conf::Plugin::*scope,
                                const std::string& id) {
  std::vector<json> out;
  for (const auto& p : config.plugins)
    if (p.*scope == id) out.push_back(plugin_json(config, p));
  return out;
}

// The entity collections Kong's DB-less Admin API lists (their writes are refused alike).
const std::set<std::string, std::less<>>& entity_collections() {
  static const std::set<std::string, std::less<>> names = {
      "services", "routes",          "consumers", "plugins",     "upstreams", "targets", "certificates",
      "snis",     "ca_certificates", "key-auths", "basic-auths", "acls",      "jwts",    "hmac-auths"};
  return names;
}

// Kong's answer to a write on an entity endpoint without a database.
std::optional<ApiResponse> refused_write(const std::string& method,
                                         const std::vector<std::string_view>& parts) {
  if (method == "GET" || method == "HEAD" || parts.empty() || !entity_collections().count(parts[0]))
    return std::nullopt;
  // The entity named by the path: the last collection segment ("/services/x/routes" → routes).
  std::string entity(parts[0]);
  for (size_t i = 2; i < parts.size(); i += 2) entity = std::string(parts[i]);
  const bool collection = parts.size() % 2 == 1;
  auto unsupported = [&](const std::string& verb) {
    return kong_error(405, kOperationUnsupported, "operation unsupported",
                      "cannot " + verb + " '" + entity + "' entities when not using a database");
  };
  if (collection) return method == "POST" ? unsupported("create") : method_not_allowed();
  if (method == "PUT") return unsupported("create or update");
  if (method == "PATCH") return unsupported("update");
  if (method == "DELETE") return unsupported("delete");
  return method_not_allowed();
}

// Kong's log levels, by name, for /debug/node/log-level.
const std::vector<std::string>& log_levels() {
  static const std::vector<std::string> levels = {"debug", "info", "notice", "warn",
                                                  "error", "crit", "alert",  "emerg"};
  return levels;
}

std::string current_log_level() {
  switch (spdlog::default_logger()->level()) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "crit";
    default:
      return "emerg";
  }
}

// One plugin this node runs (Kong's loaded_plugins): a native plugin the `plugins` property
// enables, or a plugin a plugin server offers and the property lists.
struct LoadedPlugin {
  std::string name, version;
  int priority = 0;
  const json* schema = nullptr;
};

std::vector<LoadedPlugin> loaded_plugins(const proxy::Snapshot& snap) {
  const auto& listed = snap.properties.plugins;
  std::vector<LoadedPlugin> out;
  for (const auto* spec : plugins::enabled_native_plugins(listed))
    out.push_back({spec->name, spec->version, spec->priority, &spec->schema});
  if (snap.plugins && snap.plugins->registry())
    for (const auto& p : snap.plugins->registry()->all())
      if (std::find(listed.begin(), listed.end(), p.name) != listed.end())
        out.push_back({p.name, p.version, p.priority, &p.schema});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::optional<LoadedPlugin> loaded_plugin(const proxy::Snapshot& snap, std::string_view name) {
  for (auto& plugin : loaded_plugins(snap))
    if (plugin.name == name) return plugin;
  return std::nullopt;
}

// GET /plugins/enabled: every plugin name the node runs (`bundled` spelled out, as Kong).
json enabled_plugins(const proxy::Snapshot& snap) {
  json names = json::array();
  for (const auto& plugin : loaded_plugins(snap)) names.push_back(plugin.name);
  return {{"enabled_plugins", std::move(names)}};
}

// GET /'s plugins: what the node runs ({version, priority} each) and the names the configuration
// uses (Kong: the distinct names of the plugin entities).
json root_plugins(const proxy::Snapshot& snap) {
  json available = json::object();
  for (const auto& plugin : loaded_plugins(snap))
    available[plugin.name] = {{"version", plugin.version}, {"priority", plugin.priority}};
  json in_use = json::array();
  std::set<std::string> seen;
  for (const auto& p : snap.config.plugins)
    if (seen.insert(p.name).second) in_use.push_back(p.name);
  return {{"available_on_server", std::move(available)}, {"enabled_in_cluster", std::move(in_use)}};
}

// GET /tags and /tags/{tag}: {entity_name, entity_id, tag} for every tag of every entity.
ApiResponse tagged(const ApiRequest& request, const conf::Declarative& config, std::string_view only) {
  std::vector<json> out;
  auto add = [&](const char* entity, const std::string& id, const std::vector<std::string>& tags) {
    for (const auto& tag : tags)
      if (only.empty() || tag == only)
        out.push_back({{"entity_name", entity}, {"entity_id", id}, {"tag", tag}});
  };
  for (const auto& s : config.services) add("services", s.id, s.tags);
  for (const auto& r : config.routes) add("routes", r.id, r.tags);
  for (const auto& c : config.consumers) add("consumers", c.id, c.tags);
  for (const auto& p : config.plugins) add("plugins", p.id, p.tags);
  for (const auto& u : config.upstreams) add("upstreams", u.id, u.tags);
  for (const auto& c : config.certificates) add("certificates", c.id, c.tags);
  for (const auto& c : config.ca_certificates) add("ca_certificates", c.id, c.tags);
  for (const auto& k : config.credentials.keyauth()) add("keyauth_credentials", k.id, k.tags);
  for (const auto& b : config.credentials.basicauth()) add("basicauth_credentials", b.id, b.tags);
  for (const auto& j : config.credentials.jwt()) add("jwt_secrets", j.id, j.tags);
  for (const auto& a : config.credentials.acls()) add("acls", a.id, a.tags);
  ApiRequest unfiltered = request;
  unfiltered.query.erase("tags");  // the path names the tag
  return page(unfiltered, std::move(out));
}

}  // namespace

bool is_secret_property(const std::string& key) {
  return key.find("password") != std::string::npos || key.find("secret") != std::string::npos ||
         key.ends_with("_key") || key == "declarative_config_string" ||
         key.find("token") != std::string::npos;
}

std::string percent_decode(std::string_view text) {
  std::string escaped;  // a '+' in a path is a '+', not the forms' space
  for (char c : text) escaped += c == '+' ? std::string_view("%2B") : std::string_view(&c, 1);
  return pdk::url_decode(escaped);
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  for (size_t start = 0; start <= query.size();) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    auto pair = query.substr(start, end - start);
    if (!pair.empty()) {
      std::string piece(pair);
      std::replace(piece.begin(), piece.end(), '+', ' ');
      auto eq = piece.find('=');
      out[percent_decode(piece.substr(0, eq))] =
          eq == std::string::npos ? "" : percent_decode(piece.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

ApiResponse Api::status() const {
  auto snap = gateway_.snapshot();
  const auto stats = connection_stats(gateway_);
  return {200,
          {{"server",
            {{"connections_active", stats.active},
             {"connections_reading", stats.reading},
             {"connections_writing", stats.writing},
             {"connections_waiting", stats.waiting},
             {"connections_accepted", stats.accepted},
             {"connections_handled", stats.accepted},
             {"total_requests", stats.requests}}},
           {"database", {{"reachable", true}}},
           {"memory", nullptr},
           {"configuration_hash", snap->config_hash},
           {"configuration_generation", snap->generation},
           {"draining", gateway_.draining()}}};
}

// Kong: 200 {"message": "ready"} once a configuration is loaded; 503 with the reason otherwise.
ApiResponse Api::ready() const {
  if (gateway_.draining()) return {503, {{"message", "draining: the node is shutting down"}}};
  if (!gateway_.snapshot()) return {503, {{"message", "no configuration available"}}};
  if (not_ready_)
    if (auto reason = not_ready_(); !reason.empty()) return {503, {{"message", reason}}};
  return {200, {{"message", "ready"}}};
}

// Kong's PUT (Kong 3) or POST (Kong 2) /upstreams/{u}/targets/{t}/healthy|unhealthy: 204, or
// 404 / Kong's 400 when the upstream has no health checks to tell.
ApiResponse Api::set_target_health(const std::string& upstream, std::string_view target, bool healthy) {
  using SetHealth = upstream::HealthRegistry::SetHealth;
  const auto snap = gateway_.snapshot();
  const auto* u =
      find_entity(snap->config.upstreams, upstream, [](const conf::Upstream& u) { return u.name; });
  if (!u) return not_found();
  switch (gateway_.upstreams().set_health(u->id, target, healthy)) {
    case SetHealth::done:
      return {204, nullptr};
    case SetHealth::no_checks:
      return {400, {{"message", "no healthchecker found for " + u->name}}};
    case SetHealth::no_upstream:
    case SetHealth::no_target:
      break;
  }
  return not_found();
}

ApiResponse Api::root() const {
  auto snap = gateway_.snapshot();
  const auto& props = snap->properties;
  json configuration = json::object();
  for (const auto& [key, value] : props.values)
    configuration[key] = is_secret_property(key) && !value.empty() ? json("******") : json(value);
  configuration["prefix"] = props.prefix;
  return {200,
          {{"version", kVersion},
           {"tagline", "Welcome to gatehouse"},
           {"lua_version", nullptr},
           {"hostname", hostname()},
           {"node_id", snap->node_id},
           {"pid", ::getpid()},
           {"pids", {{"master", ::getpid()}, {"workers", json::array({::getpid()})}}},  // one process
           {"edition", "community"},
           {"timers", nullptr},
           {"configuration", configuration},
           {"plugins", root_plugins(*snap)}}};
}

// spdlog has one level for Kong's info and notice: the name shown is the one asked for (a PUT
// since the last reload, else kong.conf's log_level) while it still names the level in force.
std::string Api::log_level_name() const {
  const auto snap = gateway_.snapshot();
  const auto configured = snap->properties.values.find("log_level");
  std::vector<std::string> asked;
  if (!put_level_.empty() && put_level_generation_ == snap->generation) asked.push_back(put_level_);
  if (configured != snap->properties.values.end()) asked.push_back(configured->second);
  for (const auto& name : asked)
    if (std::find(log_levels().begin(), log_levels().end(), name) != log_levels().end() &&
        log::parse_level(name) == spdlog::default_logger()->level())
      return name;
  return current_log_level();
}

ApiResponse Api::put_log_level(const std::string& level) {
  if (std::find(log_levels().begin(), log_levels().end(), level) == log_levels().end())
    return {400, {{"message", "unknown log level: " + level}}};
  if (log_level_name() == level) return {200, {{"message", "log level is already " + level}}};
  const auto wanted = log::parse_level(level);
  spdlog::default_logger()->set_level(wanted);
  log::notice_logger().set_level(wanted);
  put_level_ = level;
  put_level_generation_ = gateway_.snapshot()->generation;
  spdlog::warn("log level changed to {} through the Admin API (until the next reload or restart)", level);
  return {200, {{"message", "log level changed"}}};
}

ApiResponse Api::post_config(const ApiRequest& request) {
  auto decoded = decode_config_body(request);
  if (!decoded.body) return decoded.refusal;
  const auto& body = *decoded.body;
  const conf::DeclarativeSource source{body.text, "config"};
  if (body.check_hash && proxy::config_hash(source) == gateway_.snapshot()->config_hash)
    return {304, nullptr};
  std::shared_ptr<const proxy::Snapshot> installed;
  auto error = gateway_.apply([&](const proxy::SnapshotLineage& lineage) {
    installed = proxy::build_snapshot(gateway_.snapshot()->properties, source, lineage);
    return installed;
  });
  if (!error.empty()) return {400, declarative_error(error, body.flatten_errors)};
  json answer = export_config(installed->config);
  answer.erase("_format_version");
  answer.erase("_transform");
  return {201, std::move(answer)};
}

ApiResponse Api::metrics() const {
  ApiResponse response;
  response.content_type = metrics::kContentType;
  response.text = metrics_exposition(gateway_);
  return response;
}

ApiResponse Api::handle_status(const ApiRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") return method_not_allowed();
  if (request.path == "/status") return status();
  if (request.path == "/status/ready") return ready();
  if (request.path == "/metrics") return metrics();
  return not_found();
}

ApiResponse Api::handle(const ApiRequest& request) {
  const auto parts = segments_of(request.path);
  const std::string& method = request.method;
  const bool get = method == "GET" || method == "HEAD";

  if (parts.size() == 1 && parts[0] == "config") {
    if (get) return {200, {{"config", export_config(gateway_.snapshot()->config).dump(2)}}};
    if (method == "POST") return post_config(request);
    return method_not_allowed();
  }
  if (parts.size() >= 3 && parts[0] == "debug" && parts[1] == "node" && parts[2] == "log-level") {
    if (parts.size() == 3 && get) return {200, {{"message", "log level: " + log_level_name()}}};
    if (parts.size() == 4 && method == "PUT") return put_log_level(std::string(parts[3]));
    return parts.size() <= 4 ? method_not_allowed() : not_found();
  }
  if (parts.size() == 5 && parts[0] == "upstreams" && parts[2] == "targets" &&
      (parts[4] == "healthy" || parts[4] == "unhealthy")) {
    if (method != "PUT" && method != "POST") return method_not_allowed();
    return set_target_health(std::string(parts[1]), parts[3], parts[4] == "healthy");
  }
  if (auto answer =
          proxy_cache_routes(*gateway_.snapshot(), gateway_.shared_memory().dictionaries, request, parts))
    return *answer;
  if (auto refused = refused_write(method, parts)) return *refused;
  if (!get) return method_not_allowed();

  auto snap = gateway_.snapshot();
  const auto& config = snap->config;
  if (parts.empty()) return root();
  const std::string first(parts[0]);
  if (parts.size() == 1 && first == "status") return status();
  if (parts.size() == 2 && first == "status" && parts[1] == "ready") return ready();
  if (parts.size() == 1 && first == "metrics") return metrics();
  if (auto it = endpoints_.find(request.path); it != endpoints_.end()) return {200, it->second()};

  if (first == "services") {
    if (parts.size() == 1) return page(request, render_all(config, config.services, service_json));
    auto* s = find_entity(config.services, parts[1], [](const conf::Service& s) { return s.name; });
    if (!s) return not_found();
    if (parts.size() == 2) return {200, service_json(config, *s)};
    if (parts.size() == 3 && parts[2] == "routes") {
      std::vector<json> routes;
      for (const auto& r : config.routes)
        if (r.service_id == s->id) routes.push_back(route_json(config, r));
      return page(request, std::move(routes));
    }
    if (parts.size() == 3 && parts[2] == "plugins")
      return page(request, plugins_where(config, &conf::Plugin::service_id, s->id));
    return not_found();
  }
  if (first == "routes") {
    if (parts.size() == 1) return page(request, render_all(config, config.routes, route_json));
    auto* r = find_entity(config.routes, parts[1], [](const conf::Route& r) { return r.name; });
    if (!r) return not_found();
    if (parts.size() == 2) return {200, route_json(config, *r)};
    if (parts.size() == 3 && parts[2] == "service") {
      auto* s = config.find_service(r->service_id);
      return s ? ApiResponse{200, service_json(config, *s)} : not_found();
    }
    if (parts.size() == 3 && parts[2] == "plugins")
      return page(request, plugins_where(config, &conf::Plugin::route_id, r->id));
    return not_found();
  }
  if (first == "consumers") {
    if (parts.size() == 1) return page(request, render_all(config, config.consumers, consumer_json));
    auto* c = find_consumer(config, parts[1]);
    if (!c) return not_found();
    if (parts.size() == 2) return {200, consumer_json(config, *c)};
    if (parts.size() == 3 && parts[2] == "plugins")
      return page(request, plugins_where(config, &conf::Plugin::consumer_id, c->id));
    if (parts.size() == 3)
      if (auto kind = credential_kind(parts[2], false); !kind.empty())
        return page(request, credentials_json(config, c->id, kind));
    return not_found();
  }
  if (first == "plugins") {
    if (parts.size() == 1) return page(request, render_all(config, config.plugins, plugin_json));
    if (parts.size() == 2 && parts[1] == "enabled") return {200, enabled_plugins(*snap)};
    if (parts.size() != 2) return not_found();
    auto* p = find_entity(config.plugins, parts[1], [](const conf::Plugin&) { return std::string(); });
    return p ? ApiResponse{200, plugin_json(config, *p)} : not_found();
  }
  if (first == "schemas" && parts.size() == 3 && parts[1] == "plugins") {
    auto plugin = loaded_plugin(*snap, parts[2]);
    if (!plugin) return {404, {{"message", "No plugin named '" + std::string(parts[2]) + "'"}}};
    return {200, plugin->schema->is_null() ? json{{"fields", json::array()}} : *plugin->schema};
  }
  if (first == "upstreams") {
    if (parts.size() == 1) return page(request, render_all(config, config.upstreams, upstream_json));
    auto* u = find_entity(config.upstreams, parts[1], [](const conf::Upstream& u) { return u.name; });
    if (!u) return not_found();
    if (parts.size() == 2) return {200, upstream_json(config, *u)};
    if (parts.size() == 3 && parts[2] == "health") {  // Kong's target health (docs/upstream.md)
      if (auto health = gateway_.upstreams().health(std::string(parts[1]))) return {200, *health};
      return not_found();
    }
    if ((parts.size() == 3 && parts[2] == "targets") ||
        (parts.size() == 4 && parts[2] == "targets" && parts[3] == "all")) {
      std::vector<json> targets;
      for (size_t i = 0; i < u->targets.size(); ++i) targets.push_back(target_json(config, *u, i));
      return page(request, std::move(targets));
    }
    return not_found();
  }
  if (first == "certificates") {
    if (parts.size() == 1) return page(request, render_all(config, config.certificates, certificate_json));
    auto* c = parts.size() == 2 ? config.find_certificate(parts[1]) : nullptr;
    return c ? ApiResponse{200, certificate_json(config, *c)} : not_found();
  }
  if (first == "ca_certificates") {
    if (parts.size() == 1)
      return page(request, render_all(config, config.ca_certificates, ca_certificate_json));
    auto* c = parts.size() == 2 ? config.find_ca_certificate(parts[1]) : nullptr;
    return c ? ApiResponse{200, ca_certificate_json(config, *c)} : not_found();
  }
  if (first == "snis") {
    auto snis = snis_json(config);
    if (parts.size() == 1) return page(request, std::move(snis));
    for (auto& sni : snis)
      if (parts.size() == 2 && (sni["id"] == parts[1] || sni["name"] == parts[1])) return {200, sni};
    return not_found();
  }
  if (auto kind = credential_kind(first, true); !kind.empty()) {
    auto credentials = credentials_json(config, "", kind);
    if (parts.size() == 1) return page(request, std::move(credentials));
    for (auto& credential : credentials)
      if (parts.size() == 2 && credential["id"] == parts[1]) return {200, credential};
    return not_found();
  }
  if (first == "tags" && parts.size() <= 2) return tagged(request, config, parts.size() == 2 ? parts[1] : "");
  return not_found();
}

}  // namespace gh::admin
