// response-transformer (Kong's kong/plugins/response-transformer): edits the response headers,
// and the keys of a JSON response body (traffic/response_transform.h).
#include "plugins/native.h"
#include "traffic/config_checks.h"
#include "traffic/response_transform.h"

namespace gh::plugins {
namespace {

using nlohmann::json;

class ResponseTransformer final : public NativeHandler {
 public:
  explicit ResponseTransformer(const json& config) : transform_(check(config)) {}

  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::response) return false;
    auto& response = kong.context().response;
    bool json_body = traffic::ResponseTransform::is_json(response.headers.get("Content-Type"));
    transform_.transform_headers(response.headers);
    if (json_body && transform_.has_body_ops()) {
      if (auto body = transform_.transform_body(response.body)) response.body = std::move(*body);
    }
    return true;
  }

 private:
  static const json& check(const json& config) {
    traffic::refuse_if_any(traffic::ResponseTransform::validate(config));
    return config;
  }

  traffic::ResponseTransform transform_;
};

json section(bool typed) {
  json fields = json::array(
      {{{"json", traffic::required_string_array()}}, {{"headers", traffic::required_string_array()}}});
  if (typed) {
    json types = traffic::required_string_array();
    types["elements"]["one_of"] = {"boolean", "number", "string"};
    fields.push_back({{"json_types", types}});
  }
  return {{"type", "record"}, {"required", true}, {"fields", fields}};
}

NativePluginSpec spec() {
  return {
      "response-transformer",
      "3.9.0",
      800,
      core::bit(core::Phase::response),
      {{"name", "response-transformer"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {{{"remove", section(false)}},
              {{"rename", section(false)}},
              {{"replace", section(true)}},
              {{"add", section(true)}},
              {{"append", section(true)}}}}}}}}}},
      [](const json& config, SharedMemory&) { return std::make_unique<ResponseTransformer>(config); },
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
