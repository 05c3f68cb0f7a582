// acl (Kong's plugins/acl): admits or refuses the consumer an earlier plugin authenticated (native
// or external) by its kong.yml acls groups. Logic in src/auth/acl.h; docs in docs/plugins-bundled.md.
#include "auth/acl.h"

#include "plugins/bundled/auth_consumer.h"
#include "plugins/native.h"
#include "pluginserver/schema.h"

namespace gh::plugins::bundled {

namespace {

using json = nlohmann::json;

struct AclConfig {
  std::vector<std::string> allow, deny;
  bool hide_groups_header = false;
};

class Acl final : public NativeHandler {
 public:
  explicit Acl(AclConfig config) : config_(std::move(config)) {}

  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::access) return false;
    decide(kong);
    return true;
  }

 private:
  void decide(pdk::Kong& kong) const {
    const json& consumer = kong.client.get_consumer();
    auto id = consumer.is_object() ? consumer.find("id") : consumer.end();
    if (!consumer.is_object() || id == consumer.end() || !id->is_string()) {
      // No consumer: "Unauthorized", or a refusal when something authenticated a credential alone.
      if (!kong.client.get_credential().is_null()) return refuse(kong);
      return kong.response.exit_json(401, {{"message", "Unauthorized"}});
    }
    const auto& groups = declarative(kong).credentials.groups_of(id->get_ref<const std::string&>());
    auto decision = auth::decide_acl(config_.allow, config_.deny, groups);
    if (decision.blocked) return refuse(kong);
    // The groups go upstream unless hidden; a client's own X-Consumer-Groups never does.
    static constexpr http::HeaderName kGroups("X-Consumer-Groups");
    if (config_.hide_groups_header)
      kong.service_request.clear_header(kGroups);
    else
      kong.service_request.set_header(kGroups, decision.groups_header);
  }

  static void refuse(pdk::Kong& kong) {
    kong.response.exit_json(403, {{"message", "You cannot consume this service"}});
  }

  AclConfig config_;
};

json schema() {
  auto list = json{{"type", "array"}, {"elements", {{"type", "string"}}}};
  auto boolean = json{{"type", "boolean"}, {"required", true}, {"default", false}};
  json fields = json::array({
      {{"allow", list}},
      {{"deny", list}},
      {{"hide_groups_header", boolean}},
      {{"include_consumer_groups", boolean}},
      {{"always_use_authenticated_groups", boolean}},
  });
  return {{"name", "acl"},
          {"fields",
           {pluginserver::no_consumer_field(), {{"config", {{"type", "record"}, {"fields", fields}}}}}}};
}

std::unique_ptr<NativeHandler> make(const json& config, SharedMemory&) {
  AclConfig c;
  c.allow = string_list(config, "allow");
  c.deny = string_list(config, "deny");
  c.hide_groups_header = config.value("hide_groups_header", false);
  // Kong's entity checks, with its words.
  if (!c.allow.empty() && !c.deny.empty())
    throw std::invalid_argument("only one of these fields must be non-empty: 'config.allow', 'config.deny'");
  if (c.allow.empty() && c.deny.empty())
    throw std::invalid_argument(
        "at least one of these fields must be non-empty: 'config.allow', 'config.deny'");
  return std::make_unique<Acl>(std::move(c));
}

const NativeRegistration kRegistration{{"acl", "3.9.0", 950, core::bit(core::Phase::access), schema(), make}};

}  // namespace

}  // namespace gh::plugins::bundled
