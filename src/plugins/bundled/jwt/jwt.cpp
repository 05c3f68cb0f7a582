// jwt (Kong's plugins/jwt): a JSON Web Token from the query string, a cookie or a header, its
// signature verified with the jwt_secrets of kong.yml, its exp/nbf claims checked. Logic in
// src/auth/jwt.h; docs in docs/plugins-bundled.md.
#include "auth/jwt.h"

#include <ctime>

#include "auth/base64.h"
#include "auth/entities.h"
#include "plugins/bundled/auth_consumer.h"
#include "plugins/native.h"
#include "pluginserver/schema.h"

namespace gh::plugins::bundled {

namespace {

using json = nlohmann::json;

struct JwtConfig {
  std::vector<std::string> uri_param_names, cookie_names, header_names, claims_to_verify;
  std::string key_claim_name = "iss";
  bool secret_is_base64 = false, run_on_preflight = true;
  double maximum_expiration = 0;
  std::optional<std::string> anonymous, realm;
};

class Jwt final : public NativeHandler {
 public:
  explicit Jwt(JwtConfig config) : config_(std::move(config)) {}

  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::access) return false;
    if (skip_preflight(kong, config_.run_on_preflight)) return true;
    run_authentication(kong, config_.anonymous, [this](pdk::Kong& k) { return authenticate(k); });
    return true;
  }

 private:
  // Kong's retrieve_tokens: query arguments, then cookies, then Bearer headers.
  std::vector<std::string> candidates(pdk::Kong& kong) const {
    std::vector<std::string> found;
    json query = config_.uri_param_names.empty() ? json() : kong.request.get_query();
    for (const auto& name : config_.uri_param_names) {
      auto it = query.find(name);
      if (it == query.end()) continue;
      if (it->is_string()) found.push_back(it->get<std::string>());
      if (it->is_array())
        for (const auto& value : *it)
          if (value.is_string()) found.push_back(value.get<std::string>());
    }
    if (!config_.cookie_names.empty())
      if (auto cookies = kong.request.get_header("cookie"))
        for (const auto& name : config_.cookie_names)
          if (auto value = auth::cookie_value(*cookies, name)) found.emplace_back(*value);
    for (const auto& name : config_.header_names)
      if (auto value = kong.request.get_header(name))
        if (auto token = auth::bearer_token(*value)) found.push_back(std::move(*token));
    return found;
  }

  std::optional<AuthFailure> authenticate(pdk::Kong& kong) const {
    std::string www = config_.realm ? "Bearer realm=\"" + *config_.realm + "\"" : "Bearer";
    std::string www_error = www + " error=\"invalid_token\"";
    auto search = auth::choose_token(candidates(kong));
    if (search.outcome == auth::TokenSearch::none) return unauthorized("Unauthorized", www);
    if (search.outcome == auth::TokenSearch::many) return unauthorized("Multiple tokens provided", www_error);
    auto decoded = auth::decode_jwt(search.token);
    if (!decoded.jwt) return unauthorized("Bad token; " + decoded.error, www_error);
    const auth::Jwt& jwt = *decoded.jwt;

    const std::string& claim = config_.key_claim_name;
    const json* key = claim_or_header(jwt, claim);
    if (!key) return unauthorized("No mandatory '" + claim + "' in claims", www_error);
    if (key->is_string() && key->get_ref<const std::string&>().empty())
      return unauthorized("Invalid '" + claim + "' in claims", www_error);
    const conf::JwtSecret* secret =
        key->is_string() ? declarative(kong).credentials.find_jwt(key->get_ref<const std::string&>())
                         : nullptr;
    if (!secret) return unauthorized("No credentials found for given '" + claim + "'", www_error);
    if (jwt.alg != secret->algorithm) return unauthorized("Invalid algorithm", www_error);
    if (auto failure = verify(jwt, *secret, www_error)) return failure;

    const conf::Consumer* consumer = declarative(kong).find_consumer(secret->consumer_id);
    if (!consumer)
      return AuthFailure{
          401, {{"message", "Could not find consumer for '" + claim + "=" + secret->key + "'"}}, {}};
    set_consumer(kong, consumer, kong.client.shared_table(*secret, auth::credential_entity), secret->key);
    kong.ctx.shared["authenticated_jwt_token"] = search.token;
    return std::nullopt;
  }

  // The signature, then the registered claims and the maximum lifetime (their errors are the body).
  std::optional<AuthFailure> verify(const auth::Jwt& jwt, const conf::JwtSecret& secret,
                                    const std::string& www_error) const {
    std::optional<std::string> hs_secret = secret.secret;
    if (config_.secret_is_base64 && jwt.alg.starts_with("HS")) hs_secret = auth::base64_decode(secret.secret);
    if (!hs_secret) return unauthorized("Invalid key/secret", www_error);
    if (!auth::verify_jwt_signature(jwt, *hs_secret, secret.public_key.get()))
      return unauthorized("Invalid signature", www_error);
    int64_t now = static_cast<int64_t>(std::time(nullptr));
    json errors = auth::verify_registered_claims(jwt, config_.claims_to_verify, now);
    if (errors.empty()) errors = auth::check_maximum_expiration(jwt, config_.maximum_expiration, now);
    if (errors.empty()) return std::nullopt;
    return AuthFailure{401, std::move(errors), {{"WWW-Authenticate", www_error}}};
  }

  // Kong reads the key claim from the claims, then from the header.
  static const json* claim_or_header(const auth::Jwt& jwt, const std::string& name) {
    for (const json* table : {&jwt.claims, &jwt.header}) {
      auto it = table->find(name);
      if (it != table->end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>())) return &*it;
    }
    return nullptr;
  }

  JwtConfig config_;
};

json schema() {
  auto set_of = [](json fallback) {
    return json{{"type", "set"}, {"elements", {{"type", "string"}}}, {"default", std::move(fallback)}};
  };
  json fields = json::array({
      {{"uri_param_names", set_of({"jwt"})}},
      {{"cookie_names", set_of(json::array())}},
      {{"key_claim_name", {{"type", "string"}, {"required", true}, {"default", "iss"}}}},
      {{"secret_is_base64", {{"type", "boolean"}, {"required", true}, {"default", false}}}},
      {{"claims_to_verify",
        {{"type", "set"}, {"elements", {{"type", "string"}, {"one_of", {"exp", "nbf"}}}}}}},
      {{"anonymous", {{"type", "string"}}}},
      {{"run_on_preflight", {{"type", "boolean"}, {"required", true}, {"default", true}}}},
      {{"maximum_expiration", {{"type", "number"}, {"default", 0}, {"between", {0, 31536000}}}}},
      {{"header_names", set_of({"authorization"})}},
      {{"realm", {{"type", "string"}}}},
  });
  return {{"name", "jwt"},
          {"fields",
           {pluginserver::no_consumer_field(), {{"config", {{"type", "record"}, {"fields", fields}}}}}}};
}

std::unique_ptr<NativeHandler> make(const json& config, SharedMemory&) {
  JwtConfig c;
  c.uri_param_names = string_list(config, "uri_param_names");
  c.cookie_names = string_list(config, "cookie_names");
  c.header_names = string_list(config, "header_names");
  c.claims_to_verify = string_list(config, "claims_to_verify");
  c.key_claim_name = optional_string(config, "key_claim_name").value_or("iss");
  c.secret_is_base64 = config.value("secret_is_base64", false);
  c.run_on_preflight = config.value("run_on_preflight", true);
  if (auto max = config.find("maximum_expiration"); max != config.end() && max->is_number())
    c.maximum_expiration = max->get<double>();
  c.anonymous = optional_string(config, "anonymous");
  c.realm = optional_string(config, "realm");
  // Kong's entity check: a maximum lifetime is only enforced on tokens whose exp is verified.
  if (c.maximum_expiration > 0 &&
      std::find(c.claims_to_verify.begin(), c.claims_to_verify.end(), "exp") == c.claims_to_verify.end())
    throw std::invalid_argument(
        "failed conditional validation given value of field 'config.maximum_expiration': "
        "config.claims_to_verify must contain 'exp'");
  return std::make_unique<Jwt>(std::move(c));
}

const NativeRegistration kRegistration{
    {"jwt", "3.9.0", 1450, core::bit(core::Phase::access), schema(), make}};

}  // namespace

}  // namespace gh::plugins::bundled
