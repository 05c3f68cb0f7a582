// ip-restriction (Kong's kong/plugins/ip-restriction): allow and deny lists of addresses and CIDR
// blocks, IPv4 and IPv6; a refused client gets `status` (403) and {"message": `message`}, by
// default "IP address not allowed: <address>".
#include "plugins/native.h"
#include "traffic/ip_matcher.h"

namespace gh::plugins {
namespace {

using nlohmann::json;

std::vector<std::string> string_list(const json& config, const char* field) {
  std::vector<std::string> out;
  if (auto it = config.find(field); it != config.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// The checks Kong's schema makes with custom validators and entity checks.
void check(const json& config, const std::vector<std::string>& allow, const std::vector<std::string>& deny) {
  for (const char* field : {"allow", "deny"}) {
    const auto& list = std::string_view(field) == "allow" ? allow : deny;
    for (size_t i = 0; i < list.size(); ++i)
      if (auto error = traffic::IpMatcher::validate(list[i]))
        throw std::invalid_argument("config." + std::string(field) + "[" + std::to_string(i + 1) +
                                    "]: " + *error);
  }
  if (allow.empty() && deny.empty())
    throw std::invalid_argument(
        "at least one of these fields must be non-empty: 'config.allow', 'config.deny'");
  if (auto s = config.find("status"); s != config.end() && s->is_number()) {
    // Kong answers with kong.response.error, which only takes error statuses (a Lua error at
    // request time otherwise): refused when the configuration loads instead.
    double status = s->get<double>();
    if (status < 400 || status > 599 || status != static_cast<int>(status))
      throw std::invalid_argument("config.status: value should be an integer between 400 and 599");
  }
}

class IpRestriction final : public NativeHandler {
 public:
  explicit IpRestriction(const json& config)
      : allow_list_(string_list(config, "allow")), deny_list_(string_list(config, "deny")) {
    check(config, allow_list_, deny_list_);
    allow_ = traffic::IpMatcher(allow_list_);
    deny_ = traffic::IpMatcher(deny_list_);
    if (auto s = config.find("status"); s != config.end() && s->is_number()) status_ = s->get<int>();
    if (auto m = config.find("message"); m != config.end() && m->is_string())
      message_ = m->get<std::string>();
  }

  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::access) return false;
    std::string_view client = kong.client.get_forwarded_ip();  // ngx.var.remote_addr after real_ip
    auto ip = traffic::parse_ip(client);
    if (!ip) {
      kong.response.exit_json(
          403,
          json{{"message", "Cannot identify the client IP address, unix domain sockets are not supported."}});
      return true;
    }
    bool refused = (!deny_.empty() && deny_.contains(*ip)) || (!allow_.empty() && !allow_.contains(*ip));
    if (!refused) return true;
    std::string message = message_.value_or("IP address not allowed: " + std::string(client));
    kong.log.warn(message);
    kong.response.exit_json(status_, json{{"message", message}});
    return true;
  }

 private:
  std::vector<std::string> allow_list_, deny_list_;
  traffic::IpMatcher allow_, deny_;
  int status_ = 403;
  std::optional<std::string> message_;
};

NativePluginSpec spec() {
  json string_array = {{"type", "array"}, {"elements", {{"type", "string"}}}};
  return {
      "ip-restriction",
      "3.9.0",
      990,
      core::bit(core::Phase::access),
      {{"name", "ip-restriction"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {{{"allow", string_array}},
              {{"deny", string_array}},
              {{"status", {{"type", "number"}, {"required", false}}}},
              {{"message", {{"type", "string"}, {"required", false}}}}}}}}}}}},
      [](const json& config, SharedMemory&) { return std::make_unique<IpRestriction>(config); },
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
