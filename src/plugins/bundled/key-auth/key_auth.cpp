// key-auth (Kong's plugins/key-auth): an API key from a header, the query string or the body,
// matched against the keyauth_credentials of kong.yml. Logic in src/auth/key.h; docs in
// docs/plugins-bundled.md.
#include <ctime>

#include "auth/entities.h"
#include "auth/jwt.h"
#include "auth/key.h"
#include "common/strings.h"
#include "pdk/shapes.h"
#include "plugins/bundled/auth_consumer.h"
#include "plugins/native.h"
#include "pluginserver/schema.h"

namespace gh::plugins::bundled {

namespace {

using json = nlohmann::json;
using auth::Lookup;

struct KeyAuthConfig {
  std::vector<std::string> key_names;
  bool hide_credentials = false, key_in_header = true, key_in_query = true, key_in_body = false;
  bool run_on_preflight = true;
  std::optional<std::string> anonymous, realm;
};

// Kong's typedefs.header_name: what a key name may hold.
void check_key_names(const std::vector<std::string>& names) {
  for (const auto& name : names)
    if (name.empty() ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
            std::string::npos)
      throw std::invalid_argument("config.key_names: bad header name '" + name +
                                  "', allowed characters are A-Z, a-z, 0-9, '_', and '-'");
}

Lookup lookup_in(const json& table, std::string_view name) {
  if (!table.is_object()) return {};
  auto it = table.find(name);
  if (it == table.end()) return {};
  if (it->is_string()) return {Lookup::one, it->get<std::string>()};
  if (it->is_array() || it->is_object()) return {Lookup::many, {}};
  return {Lookup::other, {}};
}

// Whether a header named `header` is the one key name `name` is looked up as (its
// auth::key_header_name, case-insensitively), without making that name.
bool is_key_header(std::string_view header, std::string_view name) {
  if (header.size() != name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (ascii_lower(header[i]) != ascii_lower(name[i] == '_' ? '-' : name[i])) return false;
  return true;
}

Lookup lookup_header(const http::Headers& headers, std::string_view name) {
  const http::Header* found = nullptr;
  for (const auto& h : headers) {
    if (!is_key_header(h.name, name)) continue;
    if (found) return {Lookup::many, {}};
    found = &h;
  }
  if (!found) return {};
  return {Lookup::one, found->value};
}

// The body as Kong's kong.request.get_body gives it: a form's arguments or a JSON document
// (null for anything else, or a body that does not parse or is not in memory).
boost::asio::awaitable<json> read_body(pdk::Kong& kong) {
  auto raw = co_await kong.request.get_raw_body();
  auto type = kong.request.get_header("content-type");
  if (!raw || !type) co_return nullptr;
  if (starts_with_icase(*type, "application/x-www-form-urlencoded")) co_return pdk::parse_query(*raw, 100);
  if (starts_with_icase(*type, "application/json"))
    co_return auth::parse_bounded_json(*raw).value_or(nullptr);
  co_return nullptr;
}

class KeyAuth final : public NativeHandler {
 public:
  explicit KeyAuth(KeyAuthConfig config) : config_(std::move(config)) {}

  // Keys in a header or the query: a plain call.
  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::access || config_.key_in_body) return false;
    if (skip_preflight(kong, config_.run_on_preflight)) return true;
    json no_body;
    run_authentication(kong, config_.anonymous, [&](pdk::Kong& k) { return authenticate(k, no_body); });
    return true;
  }

  // key_in_body: the body is read first (only when the plugin is to authenticate).
  boost::asio::awaitable<void> access(pdk::Kong& kong) override {
    if (skip_preflight(kong, config_.run_on_preflight) || authenticated_earlier(kong, config_.anonymous))
      co_return;
    json body = co_await read_body(kong);
    run_authentication(kong, config_.anonymous, [&](pdk::Kong& k) { return authenticate(k, body); });
  }

 private:
  // `body`: the parsed body when key_in_body (hide_credentials takes the key out of it).
  std::optional<AuthFailure> authenticate(pdk::Kong& kong, json& body) const {
    auth::KeySources sources;
    if (config_.key_in_header)
      sources.header = [&](std::string_view name) { return lookup_header(kong.request.get_headers(), name); };
    // The query is parsed only when a key is looked for there (most keys come in a header).
    std::optional<json> query;
    if (config_.key_in_query)
      sources.query = [&](std::string_view name) {
        if (!query) query = kong.request.get_query();
        return lookup_in(*query, name);
      };
    if (config_.key_in_body) sources.body = [&](std::string_view name) { return lookup_in(body, name); };
    auto search = auth::find_api_key(config_.key_names, sources);
    if (search.outcome == auth::KeySearch::duplicate)
      return unauthorized("Duplicate API key found", challenge());
    if (search.outcome == auth::KeySearch::found && config_.hide_credentials) hide(kong, search.name, body);
    if (search.outcome == auth::KeySearch::missing || search.key.empty())
      return unauthorized("No API key found in request", challenge());

    const auto& config = declarative(kong);
    const conf::KeyAuthCredential* credential = config.credentials.find_key(search.key);
    if (!credential || (credential->expires_at && std::time(nullptr) >= credential->expires_at))
      return unauthorized("Unauthorized", challenge());
    const conf::Consumer* consumer = config.find_consumer(credential->consumer_id);
    if (!consumer) return unexpected_error();
    set_consumer(kong, consumer, kong.client.shared_table(*credential, auth::credential_entity),
                 credential->id);
    return std::nullopt;
  }

  // WWW-Authenticate of a refusal.
  std::string challenge() const { return config_.realm ? "Key realm=\"" + *config_.realm + "\"" : "Key"; }

  // hide_credentials: the key leaves the header, the query string and the body (Kong's order).
  void hide(pdk::Kong& kong, const std::string& name, json& body) const {
    kong.service_request.set_raw_query(remove_query_arg(kong.request.get_raw_query(), name));
    kong.service_request.clear_header(auth::key_header_name(name));
    if (!config_.key_in_body || !body.is_object() || !body.contains(name)) return;
    body.erase(name);
    auto type = kong.request.get_header("content-type");
    bool form = type && starts_with_icase(*type, "application/x-www-form-urlencoded");
    kong.service_request.set_raw_body(form ? pdk::encode_query(body) : body.dump());
  }

  KeyAuthConfig config_;
};

json schema() {
  auto boolean = [](bool value) { return json{{"type", "boolean"}, {"required", true}, {"default", value}}; };
  json fields = json::array({
      {{"key_names",
        {{"type", "array"},
         {"required", true},
         {"elements", {{"type", "string"}}},
         {"default", {"apikey"}}}}},
      {{"hide_credentials", boolean(false)}},
      {{"anonymous", {{"type", "string"}}}},
      {{"key_in_header", boolean(true)}},
      {{"key_in_query", boolean(true)}},
      {{"key_in_body", boolean(false)}},
      {{"run_on_preflight", boolean(true)}},
      {{"realm", {{"type", "string"}}}},
  });
  return {{"name", "key-auth"},
          {"fields",
           {pluginserver::no_consumer_field(), {{"config", {{"type", "record"}, {"fields", fields}}}}}}};
}

std::unique_ptr<NativeHandler> make(const json& config, SharedMemory&) {
  KeyAuthConfig c;
  c.key_names = string_list(config, "key_names");
  check_key_names(c.key_names);
  c.hide_credentials = config.value("hide_credentials", false);
  c.key_in_header = config.value("key_in_header", true);
  c.key_in_query = config.value("key_in_query", true);
  c.key_in_body = config.value("key_in_body", false);
  c.run_on_preflight = config.value("run_on_preflight", true);
  c.anonymous = optional_string(config, "anonymous");
  c.realm = optional_string(config, "realm");
  return std::make_unique<KeyAuth>(std::move(c));
}

const NativeRegistration kRegistration{
    {"key-auth", "3.9.0", 1250, core::bit(core::Phase::access), schema(), make}};

}  // namespace

}  // namespace gh::plugins::bundled
