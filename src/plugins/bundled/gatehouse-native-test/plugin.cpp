// gatehouse-native-test: a native plugin for the integration tests only (test_native_plugins.py).
// It exercises the native path end to end: schema defaults and errors, the typed PDK, exits,
// failures and kong.client.authenticate. Registered only when GATEHOUSE_TEST_NATIVE_PLUGINS=1
// is in the environment, so a production gateway never lists or enables it.
#include <cstdlib>
#include <string_view>

#include "plugins/native.h"

namespace gh::plugins::bundled {

namespace {

struct Config {
  std::string tag;                  // x-native response header, x-native-upstream header upstream
  std::string authenticate_header;  // "": no authentication; else the header naming a consumer
  int exit_status = 0;              // 0: no exit
};

class NativeTest final : public NativeHandler {
 public:
  explicit NativeTest(Config config) : config_(std::move(config)) {}

  boost::asio::awaitable<void> access(pdk::Kong& kong) override {
    if (!kong.request.get_query_arg("native_fail").is_null()) throw pdk::PdkError("asked to fail");
    if (!config_.authenticate_header.empty()) authenticate(kong);
    kong.service_request.set_header("x-native-upstream", config_.tag);
    kong.response.set_header("x-native", config_.tag);
    if (const auto* consumer = kong.consumer())
      kong.response.set_header("x-native-consumer", consumer->username);
    kong.ctx.plugin()["ran"] = true;
    if (config_.exit_status != 0) kong.response.exit_json(config_.exit_status, {{"message", config_.tag}});
    co_return;
  }

  boost::asio::awaitable<void> log(pdk::Kong& kong) override {
    kong.log.notice("log phase, access ran: " +
                    std::string(kong.ctx.plugin().value("ran", false) ? "yes" : "no"));
    co_return;
  }

 private:
  void authenticate(pdk::Kong& kong) const {
    auto user = kong.request.get_header(config_.authenticate_header);
    if (!user) return;
    for (const auto& consumer : kong.consumers())
      if (consumer.username == *user)
        kong.client.authenticate(&consumer,
                                 core::make_entity_table({{"id", "native-cred-" + consumer.username}}));
  }

  Config config_;
};

NativePluginSpec spec() {
  NativePluginSpec s;
  s.name = "gatehouse-native-test";
  s.version = "1.0.0";
  s.priority = 900;
  s.phases = core::bit(core::Phase::access) | core::bit(core::Phase::log);
  s.schema = nlohmann::json::parse(R"({
    "name": "gatehouse-native-test",
    "fields": [{"config": {"type": "record", "fields": [
      {"tag": {"type": "string", "default": "native"}},
      {"authenticate_header": {"type": "string"}},
      {"exit_status": {"type": "integer", "between": [200, 599]}}
    ]}}]
  })");
  s.make = [](const nlohmann::json& config, SharedMemory&) -> std::unique_ptr<NativeHandler> {
    Config c;
    c.tag = config.value("tag", "native");
    if (config.contains("authenticate_header") && config["authenticate_header"].is_string())
      c.authenticate_header = config["authenticate_header"];
    if (config.contains("exit_status") && config["exit_status"].is_number_integer())
      c.exit_status = config["exit_status"];
    return std::make_unique<NativeTest>(std::move(c));
  };
  return s;
}

bool wanted() {
  const char* flag = std::getenv("GATEHOUSE_TEST_NATIVE_PLUGINS");
  return flag && std::string_view(flag) == "1";
}

// Not a NativeRegistration member: registering depends on the environment.
[[maybe_unused]] const bool kRegistered = wanted() && (NativeRegistration{spec()}, true);

}  // namespace

}  // namespace gh::plugins::bundled
