#include "admin/entity_json.h"

#include <array>
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

// Credential fields that authenticate: never served (Kong keeps some of them readable; gatehouse
// does not, docs/admin-api.md).
bool is_secret_field(const std::string& name) {
  return name == "key" || name == "password" || name == "secret" || name == "client_secret";
}

// kong.yml entity name and Admin API path segment of each credential kind.
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kCredentialPaths = {{
    {"key-auth", "keyauth_credentials"},
    {"basic-auth", "basicauth_credentials"},
    {"acls", "acls"},
    {"jwt", "jwt_secrets"},
    {"hmac-auth", "hmacauth_credentials"},
    {"oauth2", "oauth2_credentials"},
}};

}  // namespace

json service_json(const conf::Service& s) {
  return {{"id", s.id},
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
}

json route_json(const conf::Route& r) {
  json headers = nullptr;
  if (!r.headers.empty()) headers = r.headers;
  return {{"id", r.id},
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
}

json consumer_json(const conf::Consumer& c) {
  return {{"id", c.id},
          {"username", or_null(c.username)},
          {"custom_id", or_null(c.custom_id)},
          {"tags", list_or_null(c.tags)}};
}

json plugin_json(const conf::Plugin& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"config", p.config},
          {"enabled", p.enabled},
          {"protocols", p.protocols},
          {"service", reference(p.service_id)},
          {"route", reference(p.route_id)},
          {"consumer", reference(p.consumer_id)},
          {"tags", list_or_null(p.tags)}};
}

json upstream_json(const conf::Upstream& u) {
  return {{"id", u.id}, {"name", u.name}, {"algorithm", u.algorithm}, {"tags", list_or_null(u.tags)}};
}

json target_json(const conf::Upstream& u, size_t index) {
  const auto& t = u.targets[index];
  return {{"id", conf::deterministic_uuid("target:" + u.id + ":" + t.target)},
          {"target", t.target},
          {"weight", t.weight},
          {"upstream", reference(u.id)},
          {"tags", list_or_null(t.tags)}};
}

json certificate_json(const conf::Certificate& c) {
  return {{"id", c.id},
          {"cert", c.cert},
          {"key", kRedacted},
          {"cert_alt", or_null(c.cert_alt)},
          {"key_alt", c.key_alt.empty() ? json() : json(kRedacted)},
          {"snis", c.snis},
          {"tags", list_or_null(c.tags)}};
}

json ca_certificate_json(const conf::CaCertificate& c) {
  return {{"id", c.id}, {"cert", c.cert}, {"tags", list_or_null(c.tags)}};
}

std::vector<json> snis_json(const conf::Declarative& config) {
  std::vector<json> out;
  for (const auto& c : config.certificates)
    for (const auto& name : c.snis)
      out.push_back({{"id", conf::deterministic_uuid("sni:" + name)},
                     {"name", name},
                     {"certificate", reference(c.id)},
                     {"tags", nullptr}});
  return out;
}

std::string credential_kind(std::string_view segment) {
  for (const auto& [path, kind] : kCredentialPaths)
    if (path == segment) return std::string(kind);
  return "";
}

std::vector<json> credentials_json(const conf::Consumer& consumer, const std::string& kind) {
  std::vector<json> out;
  auto it = consumer.credentials.find(kind);
  if (it == consumer.credentials.end() || !it->is_array()) return out;
  for (const auto& credential : *it) {
    json item = credential.is_object() ? credential : json{{"value", credential}};
    for (auto& [name, value] : item.items())
      if (is_secret_field(name)) value = kRedacted;
    item["consumer"] = reference(consumer.id);
    out.push_back(std::move(item));
  }
  return out;
}

json export_config(const conf::Declarative& config) {
  json out = {{"_format_version", "3.0"}, {"_transform", false}};
  auto add = [&out](const char* key, json item) { out[key].push_back(std::move(item)); };
  for (const auto& s : config.services) add("services", service_json(s));
  for (const auto& r : config.routes) add("routes", route_json(r));
  for (const auto& c : config.consumers) {
    json consumer = consumer_json(c);
    for (const auto& [path, kind] : kCredentialPaths) {
      auto credentials = credentials_json(c, std::string(kind));
      for (auto& credential : credentials) credential.erase("consumer");
      if (!credentials.empty()) consumer[std::string(kind)] = credentials;
    }
    add("consumers", consumer);
  }
  for (const auto& p : config.plugins) add("plugins", plugin_json(p));
  for (const auto& u : config.upstreams) {
    add("upstreams", upstream_json(u));
    for (size_t i = 0; i < u.targets.size(); ++i) add("targets", target_json(u, i));
  }
  for (const auto& c : config.certificates) add("certificates", certificate_json(c));
  for (const auto& c : config.ca_certificates) add("ca_certificates", ca_certificate_json(c));
  return out;
}

}  // namespace gh::admin
