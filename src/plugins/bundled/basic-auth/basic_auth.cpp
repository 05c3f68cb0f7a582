// basic-auth (Kong's plugins/basic-auth): "Authorization: Basic ..." (or Proxy-Authorization)
// checked against the basicauth_credentials of kong.yml, whose passwords are held hashed. Logic
// in src/auth/basic.h; docs in docs/plugins-bundled.md.
#include "auth/basic.h"
#include "auth/entities.h"
#include "plugins/bundled/auth_consumer.h"
#include "plugins/native.h"
#include "pluginserver/schema.h"

namespace gh::plugins::bundled {

namespace {

using json = nlohmann::json;

struct BasicAuthConfig {
  bool hide_credentials = false;
  std::string realm = "service";
  std::optional<std::string> anonymous;
};

class BasicAuth final : public NativeHandler {
 public:
  explicit BasicAuth(BasicAuthConfig config) : config_(std::move(config)) {}

  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::access) return false;
    run_authentication(kong, config_.anonymous, [this](pdk::Kong& k) { return authenticate(k); });
    return true;
  }

 private:
  // Proxy-Authorization first, then Authorization (Kong's order); each is hidden once read when
  // hide_credentials is on.
  std::optional<AuthFailure> authenticate(pdk::Kong& kong) const {
    std::string www = "Basic realm=\"" + config_.realm + "\"";
    auto failure = unauthorized("Unauthorized", www);
    auto proxy_value = kong.request.get_header("proxy-authorization");
    auto value = kong.request.get_header("authorization");
    if (!proxy_value && !value) return failure;
    const conf::BasicAuthCredential* credential = nullptr;
    std::optional<auth::BasicCredentials> given;
    if (proxy_value) {
      given = read(kong, "proxy-authorization", *proxy_value);
      if (given) credential = declarative(kong).credentials.find_basic(given->username);
    }
    if (!credential) {
      given = value ? read(kong, "authorization", *value) : std::nullopt;
      if (!given) return failure;
      credential = declarative(kong).credentials.find_basic(given->username);
    }
    if (!credential ||
        !auth::basic_password_matches(credential->consumer_id, given->password, credential->password_hash))
      return failure;
    const conf::Consumer* consumer = declarative(kong).find_consumer(credential->consumer_id);
    if (!consumer) return unexpected_error();
    set_consumer(kong, consumer, kong.client.shared_table(*credential, auth::credential_entity),
                 credential->username);
    return std::nullopt;
  }

  std::optional<auth::BasicCredentials> read(pdk::Kong& kong, std::string_view header,
                                             std::string_view value) const {
    auto given = auth::parse_basic_authorization(value);
    if (config_.hide_credentials) kong.service_request.clear_header(header);
    return given;
  }

  BasicAuthConfig config_;
};

json schema() {
  json fields = json::array({
      {{"anonymous", {{"type", "string"}}}},
      {{"hide_credentials", {{"type", "boolean"}, {"required", true}, {"default", false}}}},
      {{"realm", {{"type", "string"}, {"required", true}, {"default", "service"}}}},
  });
  return {{"name", "basic-auth"},
          {"fields",
           {pluginserver::no_consumer_field(), {{"config", {{"type", "record"}, {"fields", fields}}}}}}};
}

std::unique_ptr<NativeHandler> make(const json& config, SharedMemory&) {
  BasicAuthConfig c;
  c.hide_credentials = config.value("hide_credentials", false);
  c.realm = optional_string(config, "realm").value_or("service");
  c.anonymous = optional_string(config, "anonymous");
  return std::make_unique<BasicAuth>(std::move(c));
}

const NativeRegistration kRegistration{
    {"basic-auth", "3.9.0", 1100, core::bit(core::Phase::access), schema(), make}};

}  // namespace

}  // namespace gh::plugins::bundled
