#include "admin/entity_json.h"

#include <array>
#include <cmath>
#include <utility>

#include "conf/declarative.h"

namespace gh::admin {

using nlohmann::json;

namespace {

// Kong renders an unset string or an empty array as null.
json or_null(const std::string& text) {
  return text.empty() ? json() : json(text);
}

template <typename T>
json list_or_null(const std::vector<T>& items) {
  return items.empty() ? json() : json(items);
}

json reference(const std::string& id) {
  return id.empty() ? json() : json{{"id", id}};
}

// Kong's auto timestamps, as its declarative load sets them (process_auto_fields "insert"):
// updated_at is the load time, created_at the kong.yml's value or the load time. Most entities
// count whole seconds (auto_timestamp_s); targets count milliseconds (auto_timestamp_ms).
enum class Stamps { seconds, milliseconds, created_only };

double created_at(const conf::Declarative& config, const std::string& id) {
  auto it = config.created_at.find(id);
  return it != config.created_at.end() ? it->second : config.loaded_at;
}

json stamped(json entity, const conf::Declarative& config, const std::string& id, Stamps stamps) {
  auto in_seconds = [](double t) { return json(static_cast<int64_t>(t)); };
  auto in_milliseconds = [](double t) { return json(std::round(t * 1000) / 1000); };
  auto render = stamps == Stamps::milliseconds ? +in_milliseconds : +in_seconds;
  entity["created_at"] = render(created_at(config, id));
  if (stamps != Stamps::created_only) entity["updated_at"] = render(config.loaded_at);
  return entity;
}

json endpoints_json(const std::vector<conf::StreamEndpoint>& endpoints) {
  if (endpoints.empty()) return nullptr;
  json out = json::array();
  for (const auto& e : endpoints) {
    json item = json::object();
    if (e.ip) item["ip"] = e.ip->network.to_string() + "/" + std::to_string(e.ip->prefix_length);
    if (e.port) item["port"] = e.port;
    out.push_back(item);
  }
  return out;
}

// Kong's Admin API path segments of each credential kind, per consumer and top-level.
struct CredentialPath {
  std::string_view per_consumer, top_level, kind;
};
constexpr std::array<CredentialPath, 4> kCredentialPaths = {{
    {"key-auth", "key-auths", "keyauth_credentials"},
    {"basic-auth", "basic-auths", "basicauth_credentials"},
    {"acls", "acls", "acls"},
    {"jwt", "jwts", "jwt_secrets"},
}};

// One credential in Kong's shape. `secret` is what authenticates (a key, a password hash, a JWT
// secret): kRedacted for the API, left out of an export (a reloaded export then gets Kong's
// random key, never a guessable one).
json key_auth_json(const conf::KeyAuthCredential& c, bool for_export) {
  json out = {{"id", c.id}, {"ttl", c.ttl ? json(c.ttl) : json()}, {"tags", list_or_null(c.tags)}};
  if (!for_export) out["key"] = kRedacted;
  return out;
}

json basic_auth_json(const conf::BasicAuthCredential& c, bool for_export) {
  json out = {{"id", c.id}, {"username", c.username}, {"tags", list_or_null(c.tags)}};
  if (!for_export) out["password"] = kRedacted;
  return out;
}

json jwt_json(const conf::JwtSecret& c, bool for_export) {
  json out = {{"id", c.id},
              {"key", c.key},
              {"algorithm", c.algorithm},
              {"rsa_public_key", or_null(c.rsa_public_key)},
              {"tags", list_or_null(c.tags)}};
  if (!for_export) out["secret"] = kRedacted;
  return out;
}

json acl_json(const conf::AclGroup& c, bool) {
  return {{"id", c.id}, {"group", c.group}, {"tags", list_or_null(c.tags)}};
}

template <typename T, typename Render>
void add_credentials(std::vector<json>& out, const conf::Declarative& config, const std::vector<T>& items,
                     std::string_view consumer_id, Render render, bool for_export) {
  for (const auto& item : items)
    if (consumer_id.empty() || item.consumer_id == consumer_id) {
      json rendered = stamped(render(item, for_export), config, item.id, Stamps::created_only);
      rendered["consumer"] = reference(item.consumer_id);
      out.push_back(std::move(rendered));
    }
}

std::vector<json> credentials_of(const conf::Declarative& config, std::string_view consumer_id,
                                 std::string_view kind, bool for_export) {
  const auto& all = config.credentials;
  std::vector<json> out;
  if (kind == "keyauth_credentials")
    add_credentials(out, config, all.keyauth(), consumer_id, key_auth_json, for_export);
  if (kind == "basicauth_credentials")
    add_credentials(out, config, all.basicauth(), consumer_id, basic_auth_json, for_export);
  if (kind == "acls") add_credentials(out, config, all.acls(), consumer_id, acl_json, for_export);
  if (kind == "jwt_secrets") add_credentials(out, config, all.jwt(), consumer_id, jwt_json, for_export);
  return out;
}

// Kong's hash_on / hash_fallback and the field naming the header, cookie, argument or capture
// (null unless that is the kind).
void add_hash_source(json& out, const std::string& p, const conf::HashSource& source, bool fallback) {
  out[p] = source.kind;
  out[p + "_header"] = source.kind == "header" ? json(source.name) : json();
  if (!fallback) out[p + "_cookie"] = source.kind == "cookie" ? json(source.name) : json();
  if (fallback && source.kind == "cookie") out["hash_on_cookie"] = source.name;  // Kong's one cookie field
  out[p + "_query_arg"] = source.kind == "query_arg" ? json(source.name) : json();
  out[p + "_uri_capture"] = source.kind == "uri_capture" ? json(source.name) : json();
}

json healthy_json(const conf::HealthyRule& rule, bool active) {
  json out = {{"http_statuses", rule.http_statuses}, {"successes", rule.successes}};
  if (active) out["interval"] = rule.interval;
  return out;
}

json unhealthy_json(const conf::UnhealthyRule& rule, bool active) {
  json out = {{"http_statuses", rule.http_statuses},
              {"tcp_failures", rule.tcp_failures},
              {"timeouts", rule.timeouts},
              {"http_failures", rule.http_failures}};
  if (active) out["interval"] = rule.interval;
  return out;
}

json healthchecks_json(const conf::Healthchecks& h) {
  json headers = nullptr;
  for (const auto& [name, values] : h.active.headers) headers[name] = values;
  return {{"active",
           {{"type", h.active.type},
            {"timeout", h.active.timeout},
            {"concurrency", h.active.concurrency},
            {"http_path", h.active.http_path},
            {"https_sni", or_null(h.active.https_sni)},
            {"https_verify_certificate", h.active.https_verify_certificate},
            {"headers", headers},
            {"healthy", healthy_json(h.active.healthy, true)},
            {"unhealthy", unhealthy_json(h.active.unhealthy, true)}}},
          {"passive",
           {{"type", h.passive.type},
            {"healthy", healthy_json(h.passive.healthy, false)},
            {"unhealthy", unhealthy_json(h.passive.unhealthy, false)}}},
          {"threshold", h.threshold}};
}

}  // namespace

json service_json(const conf::Declarative& config, const conf::Service& s) {
  json out = {{"id", s.id},
              {"name", or_null(s.name)},
              {"protocol", s.protocol},
              {"host", s.host},
              {"port", s.port},
              {"path", or_null(s.path)},
              {"retries", s.retries},
              {"connect_timeout", s.connect_timeout_ms},
              {"write_timeout", s.write_timeout_ms},
              {"read_timeout", s.read_timeout_ms},
              {"enabled", s.enabled},
              {"tls_verify", s.tls_verify ? json(true) : json()},
              {"tls_verify_depth", s.tls_verify_depth < 0 ? json() : json(s.tls_verify_depth)},
              {"client_certificate", reference(s.client_certificate_id)},
              {"ca_certificates", list_or_null(s.ca_certificate_ids)},
              {"tags", list_or_null(s.tags)}};
  return stamped(std::move(out), config, s.id, Stamps::seconds);
}

json route_json(const conf::Declarative& config, const conf::Route& r) {
  json headers = nullptr;
  if (!r.headers.empty()) headers = r.headers;
  json out = {{"id", r.id},
              {"name", or_null(r.name)},
              {"protocols", r.protocols},
              {"methods", list_or_null(r.methods)},
              {"hosts", list_or_null(r.hosts)},
              {"paths", list_or_null(r.paths)},
              {"headers", headers},
              {"snis", list_or_null(r.snis)},
              {"sources", endpoints_json(r.sources)},
              {"destinations", endpoints_json(r.destinations)},
              {"strip_path", r.strip_path},
              {"preserve_host", r.preserve_host},
              {"regex_priority", r.regex_priority},
              {"path_handling", r.path_handling},
              {"https_redirect_status_code", r.https_redirect_status_code},
              {"request_buffering", r.request_buffering},
              {"response_buffering", r.response_buffering},
              {"service", reference(r.service_id)},
              {"tags", list_or_null(r.tags)}};
  return stamped(std::move(out), config, r.id, Stamps::seconds);
}

json consumer_json(const conf::Declarative& config, const conf::Consumer& c) {
  json out = {{"id", c.id},
              {"username", or_null(c.username)},
              {"custom_id", or_null(c.custom_id)},
              {"tags", list_or_null(c.tags)}};
  return stamped(std::move(out), config, c.id, Stamps::seconds);
}

json plugin_json(const conf::Declarative& config, const conf::Plugin& p) {
  json out = {{"id", p.id},
              {"name", p.name},
              {"config", p.config},
              {"enabled", p.enabled},
              {"protocols", p.protocols},
              {"service", reference(p.service_id)},
              {"route", reference(p.route_id)},
              {"consumer", reference(p.consumer_id)},
              {"tags", list_or_null(p.tags)}};
  return stamped(std::move(out), config, p.id, Stamps::seconds);
}

json upstream_json(const conf::Declarative& config, const conf::Upstream& u) {
  json out = {{"id", u.id},
              {"name", u.name},
              {"algorithm", u.algorithm},
              {"hash_on_cookie_path", u.hash_on_cookie_path},
              {"slots", u.slots},
              {"healthchecks", healthchecks_json(u.healthchecks)},
              {"tags", list_or_null(u.tags)}};
  add_hash_source(out, "hash_on", u.hash_on, false);
  add_hash_source(out, "hash_fallback", u.hash_fallback, true);
  return stamped(std::move(out), config, u.id, Stamps::seconds);
}

json target_json(const conf::Declarative& config, const conf::Upstream& u, size_t index) {
  const auto& t = u.targets[index];
  const std::string id = conf::target_id(u, index);
  json out = {{"id", id},
              {"target", t.target},
              {"weight", t.weight},
              {"upstream", reference(u.id)},
              {"tags", list_or_null(t.tags)}};
  return stamped(std::move(out), config, id, Stamps::milliseconds);
}

json certificate_json(const conf::Declarative& config, const conf::Certificate& c) {
  json out = {{"id", c.id},
              {"cert", c.cert},
              {"key", kRedacted},
              {"cert_alt", or_null(c.cert_alt)},
              {"key_alt", c.key_alt.empty() ? json() : json(kRedacted)},
              {"snis", c.snis},
              {"tags", list_or_null(c.tags)}};
  return stamped(std::move(out), config, c.id, Stamps::seconds);
}

json ca_certificate_json(const conf::Declarative& config, const conf::CaCertificate& c) {
  json out = {{"id", c.id}, {"cert", c.cert}, {"tags", list_or_null(c.tags)}};
  return stamped(std::move(out), config, c.id, Stamps::seconds);
}

std::vector<json> snis_json(const conf::Declarative& config) {
  std::vector<json> out;
  for (const auto& c : config.certificates)
    for (const auto& name : c.snis)
      out.push_back(stamped({{"id", conf::deterministic_uuid("sni:" + name)},
                             {"name", name},
                             {"certificate", reference(c.id)},
                             {"tags", nullptr}},
                            config, c.id, Stamps::seconds));  // an SNI is made with its certificate
  return out;
}

std::string credential_kind(std::string_view segment, bool top_level) {
  for (const auto& path : kCredentialPaths)
    if ((top_level ? path.top_level : path.per_consumer) == segment) return std::string(path.kind);
  return "";
}

std::vector<json> credentials_json(const conf::Declarative& config, std::string_view consumer_id,
                                   const std::string& kind) {
  return credentials_of(config, consumer_id, kind, false);
}

json export_config(const conf::Declarative& config) {
  json out = {{"_format_version", "3.0"}, {"_transform", false}};
  auto add = [&out](const char* key, json item) { out[key].push_back(std::move(item)); };
  for (const auto& s : config.services) add("services", service_json(config, s));
  for (const auto& r : config.routes) add("routes", route_json(config, r));
  for (const auto& c : config.consumers) add("consumers", consumer_json(config, c));
  for (const auto& path : kCredentialPaths)
    for (auto& credential : credentials_of(config, "", path.kind, true))
      add(std::string(path.kind).c_str(), std::move(credential));
  for (const auto& p : config.plugins) add("plugins", plugin_json(config, p));
  for (const auto& u : config.upstreams) {
    add("upstreams", upstream_json(config, u));
    for (size_t i = 0; i < u.targets.size(); ++i) add("targets", target_json(config, u, i));
  }
  for (const auto& c : config.certificates) add("certificates", certificate_json(config, c));
  for (const auto& c : config.ca_certificates) add("ca_certificates", ca_certificate_json(config, c));
  return out;
}

}  // namespace gh::admin
